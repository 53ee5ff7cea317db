"""Laws of the last-write-wins merge, checked against a naive oracle.

Replicas converge only if ``merge`` is a join: commutative, associative and
idempotent, and it must pick one of its inputs (never invent a value). ``newest``
over any number of versions must agree with "sort by the documented order and take
the last", whatever order the answers arrived in.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core.version import Version, merge, newest

# Narrow fields make ties likely, so the tie-breaking fields actually get exercised;
# wide fields check the encoding limits.
narrow_versions = st.builds(
    Version,
    ts=st.integers(0, 3),
    node_id=st.sampled_from(["n1", "n2", "n3"]),
    tombstone=st.booleans(),
    expiry_ms=st.sampled_from([0, 5, 10]),
    value=st.sampled_from([b"", b"a", b"b"]),
)
wide_versions = st.builds(
    Version,
    ts=st.integers(0, 2**64 - 1),
    node_id=st.text(max_size=12),
    tombstone=st.booleans(),
    expiry_ms=st.integers(0, 2**64 - 1),
    value=st.binary(max_size=64),
)
versions = st.one_of(narrow_versions, wide_versions)
maybe_versions = st.one_of(st.none(), versions)


def oracle_key(v: Version) -> tuple:
    """The order the module docstring promises, spelled out field by field."""
    return (v.ts, v.node_id, v.tombstone, v.expiry_ms, v.value)


@given(maybe_versions, maybe_versions)
def test_merge_is_commutative(a, b):
    assert merge(a, b) == merge(b, a)


@given(maybe_versions, maybe_versions, maybe_versions)
def test_merge_is_associative(a, b, c):
    assert merge(merge(a, b), c) == merge(a, merge(b, c))


@given(maybe_versions)
def test_merge_is_idempotent(a):
    assert merge(a, a) == a


@given(maybe_versions, maybe_versions)
def test_merge_returns_one_of_its_inputs(a, b):
    winner = merge(a, b)
    assert winner is a or winner is b


@given(versions)
def test_none_is_the_identity_of_merge(a):
    # "No version" (a replica that never saw the key) must never beat a real one.
    assert merge(None, a) is a
    assert merge(a, None) is a
    assert merge(None, None) is None


@given(versions, versions)
def test_the_later_timestamp_wins_whatever_else_differs(a, b):
    if a.ts != b.ts:
        later = a if a.ts > b.ts else b
        assert merge(a, b) is later


@given(narrow_versions, narrow_versions)
def test_node_id_breaks_ties_between_concurrent_writes(a, b):
    if a.ts == b.ts and a.node_id != b.node_id:
        assert merge(a, b).node_id == max(a.node_id, b.node_id)


def test_a_delete_with_a_later_timestamp_beats_a_write():
    write = Version(ts=10, node_id="n1", value=b"v")
    delete = Version(ts=11, node_id="n2", tombstone=True)
    assert merge(write, delete) is delete
    assert merge(delete, write) is delete


@settings(max_examples=60)
@given(st.lists(versions, max_size=8), st.randoms(use_true_random=False))
def test_newest_equals_the_maximum_in_any_arrival_order(vs, rnd):
    expected = max(vs, key=oracle_key) if vs else None
    assert newest(vs) == expected
    shuffled = list(vs)
    rnd.shuffle(shuffled)
    assert newest(shuffled) == expected


@given(st.lists(maybe_versions, max_size=8))
def test_newest_ignores_missing_answers(vs):
    present = [v for v in vs if v is not None]
    assert newest(vs) == (max(present, key=oracle_key) if present else None)


@given(versions)
def test_encode_decode_roundtrip(v):
    decoded = Version.decode(v.encode())
    assert decoded == v
    assert type(decoded.value) is bytes and type(decoded.tombstone) is bool


@given(versions)
def test_tuple_roundtrip(v):
    assert Version.from_tuple(v.as_tuple()) == v


@given(versions, st.integers(0, 2**64 - 1))
def test_is_live_oracle(v, now_ms):
    expected = (not v.tombstone) and (v.expiry_ms == 0 or now_ms < v.expiry_ms)
    assert v.is_live(now_ms) == expected


def test_is_live_cases():
    now = 1_000
    assert Version(1, "n1", value=b"v").is_live(now), "no expiry: live forever"
    assert not Version(1, "n1", tombstone=True).is_live(now), "a tombstone is never live"
    assert not Version(1, "n1", tombstone=True, expiry_ms=now + 1).is_live(now)
    assert Version(1, "n1", expiry_ms=now + 1).is_live(now), "expires in the future"
    assert not Version(1, "n1", expiry_ms=now).is_live(now), "expiry instant is already dead"
    assert not Version(1, "n1", expiry_ms=now - 1).is_live(now)


def test_purgeable_after_the_grace_period_only():
    from quorumkv.core.hlc import pack
    from quorumkv.core.version import Version
    from quorumkv.core.version import purgeable

    tomb = Version(pack(1_000, 0), "n1", tombstone=True)
    assert not purgeable(tomb, now_ms=1_000 + 500, grace_ms=500)
    assert purgeable(tomb, now_ms=1_000 + 501, grace_ms=500)
    expired = Version(pack(1_000, 0), "n1", expiry_ms=2_000, value=b"v")
    assert not purgeable(expired, now_ms=2_400, grace_ms=500)
    assert purgeable(expired, now_ms=2_501, grace_ms=500)
    assert not purgeable(Version(pack(1, 0), "n1", value=b"v"), now_ms=10**12, grace_ms=0)
