"""Hint records (core/hints.py)."""

from hypothesis import given
from hypothesis import strategies as st

from quorumkv.core import hints as h
from quorumkv.core.version import Version

versions = st.builds(Version, st.integers(0, 2**63 - 1), st.sampled_from(["n1", "n22"]),
                     st.booleans(), st.integers(0, 2**40), st.binary(max_size=50))
targets = st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=20)


@given(targets, versions, st.integers(0, 0xFFFE), st.binary(max_size=40), st.binary(max_size=40))
def test_a_hint_round_trips_and_names_its_target(target, version, ks_id, pkey, key):
    k = h.hint_key(target, version, ks_id, pkey)
    assert k.startswith(h.hint_prefix(target)) and k.startswith(h.all_hints_prefix())
    assert h.hint_target(k) == target
    assert h.decode_hint(h.encode_hint("default", key, version)) == ("default", key, version)


@given(targets, st.lists(versions, min_size=2, max_size=10, unique_by=lambda v: v.ts))
def test_one_targets_hints_sort_in_write_order(target, vs):
    by_ts = sorted(vs, key=lambda v: v.ts)
    assert sorted(h.hint_key(target, v, 1, b"k") for v in vs) == \
        [h.hint_key(target, v, 1, b"k") for v in by_ts]


@given(targets, targets)
def test_one_targets_prefix_never_covers_anothers(a, b):
    if a != b:
        assert not h.hint_prefix(a).startswith(h.hint_prefix(b))
