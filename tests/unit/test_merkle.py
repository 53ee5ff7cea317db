"""Merkle trees for anti-entropy (core/merkle.py)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core.merkle import MerkleTree, bucket_of, hash_bounds, keys_to_exchange
from quorumkv.core.placement import hash_placement_key, hash_split_points

entries = st.dictionaries(st.binary(min_size=1, max_size=12), st.binary(max_size=20),
                          max_size=60)


def tree_of(data: dict, start=b"", end=b"", depth=6) -> MerkleTree:
    tree = MerkleTree(start, end, depth)
    for key, value in data.items():
        tree.add(hash_placement_key(key), value)
    return tree


@given(entries, st.randoms())
def test_the_tree_does_not_depend_on_insertion_order(data, rnd):
    items = list(data.items())
    rnd.shuffle(items)
    assert tree_of(dict(items)).root() == tree_of(data).root()


@settings(max_examples=200)
@given(entries, entries)
def test_equal_roots_iff_equal_contents_and_the_diff_finds_every_changed_key(a, b):
    ta, tb = tree_of(a), tree_of(b)
    assert (ta.root() == tb.root()) == (a == b)  # (up to 64-bit hash collisions)
    changed = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    buckets = set(ta.differing_buckets(tb.leaf_bytes()))
    assert {ta.bucket(hash_placement_key(k)) for k in changed} == buckets


def test_buckets_cover_a_range_evenly():
    points = hash_split_points(4)
    start, end = points[1], points[2]
    lo, hi = hash_bounds(start, end)
    assert bucket_of(start + b"k", lo, hi, 3) == 0
    assert bucket_of((hi - 1).to_bytes(8, "big") + b"k", lo, hi, 3) == 7
    assert hash_bounds(b"", b"") == (0, 1 << 64)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=12), min_size=3, max_size=3, unique=True),
       st.integers(0, 8))
def test_every_key_of_a_range_keyspace_range_falls_in_a_leaf(keys, depth):
    """On a range keyspace placement keys are the keys themselves, as short as one
    byte (``b"l"``, a split point, in the a-k / l-q / r-z keyspace) and sharing
    long prefixes with the bounds: each key of [start, end) has a leaf of its
    own range's tree, and the leaves keep key order."""
    start, key, end = sorted(keys)
    for lo_key, hi_key in ((start, end), (start, b""), (b"", end)):
        if not (lo_key <= key and (not hi_key or key < hi_key)):
            continue
        lo, hi = hash_bounds(lo_key, hi_key)
        leaf = bucket_of(key, lo, hi, depth)
        assert 0 <= leaf < 1 << depth
        assert bucket_of(lo_key, lo, hi, depth) <= leaf
    tree = MerkleTree(b"l", b"r", 4)
    leaves = [tree.bucket(k) for k in (b"l", b"mallory", b"quinn", b"qzzzzzzzzzz")]
    assert leaves == sorted(leaves) and leaves[0] == 0 and leaves[-1] < 16


@given(st.dictionaries(st.binary(max_size=4), st.integers(0, 9)),
       st.dictionaries(st.binary(max_size=4), st.integers(0, 9)))
def test_keys_to_exchange_moves_exactly_the_differences(mine, theirs):
    fetch, push = keys_to_exchange(mine, theirs)
    assert set(fetch) == {k for k in theirs if mine.get(k) != theirs[k]}
    assert set(push) == {k for k in mine if theirs.get(k) != mine[k]}
