"""The RocksDB engine's merge: last write wins, with and without the watermark."""

from __future__ import annotations

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core.version import Version, newest
from quorumkv.storage.engine import WATERMARK_KEY, Durability, Storage, storage_key

KS = 1


def open_storage(path: str) -> Storage:
    return Storage(path, Durability.PERIODIC)


def test_an_older_write_never_replaces_a_newer_one(tmp_path):
    s = open_storage(str(tmp_path))
    s.apply([(KS, b"k", Version(200, "n1", value=b"new"))])
    s.apply([(KS, b"k", Version(100, "n2", value=b"old"))])  # below the watermark: read
    assert s.get(KS, b"k").value == b"new"
    s.apply([(KS, b"k", Version(300, "n2", value=b"newer"))])  # above it: no read needed
    assert s.get(KS, b"k").value == b"newer"
    s.close()


def test_the_watermark_is_the_highest_timestamp_written_and_survives_a_restart(tmp_path):
    s = open_storage(str(tmp_path))
    assert s.watermark == 0
    s.apply([(KS, b"a", Version(500, "n1")), (KS, b"b", Version(300, "n1"))])
    s.apply([(KS, b"a", Version(400, "n1"))])  # loses: the watermark does not move
    assert s.watermark == 500
    s.close()
    s = open_storage(str(tmp_path))
    assert s.watermark == 500
    s.apply([(KS, b"a", Version(450, "n2", value=b"late"))])  # must still lose
    assert s.get(KS, b"a").ts == 500
    s.close()


def test_a_database_without_a_watermark_gets_one_from_its_data(tmp_path):
    s = open_storage(str(tmp_path))
    s.apply([(KS, b"a", Version(900, "n1")), (KS, b"b", Version(700, "n1"))],
            raw=[(b"\xff\xffHhint", b"x")])
    s.apply([], raw=[(WATERMARK_KEY, None)])  # as written by a version without one
    s.close()
    s = open_storage(str(tmp_path))
    assert s.watermark == 900
    s.apply([(KS, b"a", Version(800, "n2"))])
    assert s.get(KS, b"a").ts == 900
    s.close()


versions = st.builds(Version, st.integers(1, 50), st.sampled_from(["n1", "n2", "n3"]),
                     st.booleans(), st.just(0), st.binary(max_size=3))
writes = st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c"]), versions), max_size=40)


@settings(max_examples=60, deadline=None)
@given(writes, st.lists(st.integers(1, 6), min_size=1, max_size=20), st.booleans())
def test_any_batching_and_restarts_store_the_newest_version_of_each_key(
        ops, batch_sizes, restart):
    """What is stored equals the LWW merge of everything written, however the
    writes are cut into batches and whether or not the engine restarts midway."""
    with tempfile.TemporaryDirectory() as path:
        s = open_storage(path)
        i = 0
        for n in batch_sizes * 10:
            if i >= len(ops):
                break
            s.apply([(KS, key, v) for key, v in ops[i:i + n]])
            i += n
            if restart and i < len(ops):
                s.close()
                s = open_storage(path)
        if i < len(ops):
            s.apply([(KS, key, v) for key, v in ops[i:]])
        for key in (b"a", b"b", b"c"):
            assert s.get(KS, key) == newest(v for k, v in ops if k == key)
        assert s.watermark == max((v.ts for _, v in ops), default=0)
        s.close()


def test_reads_through_the_row_cache_see_every_write_and_delete(tmp_path):
    s = Storage(str(tmp_path), Durability.PERIODIC, row_cache_bytes=1 << 20)
    assert s.get(KS, b"k") is None  # a cached absence ...
    s.apply([(KS, b"k", Version(10, "n1", value=b"v1"))])
    assert s.get(KS, b"k").value == b"v1"  # ... replaced by the write
    s.apply([(KS, b"k", Version(5, "n2", value=b"old"))])
    assert s.get(KS, b"k").value == b"v1"
    s.apply([], raw=[(b"\x00\x01k", None)])  # a raw delete (tombstone GC)
    assert s.get(KS, b"k") is None
    s.close()


def test_the_row_cache_takes_reads_and_coordinated_writes_and_updates_on_replica_writes(
        tmp_path):
    from quorumkv.storage.cache import MISSING
    s = Storage(str(tmp_path), Durability.PERIODIC, row_cache_bytes=1 << 20)
    cached = lambda key: s.cache.get(storage_key(KS, key))  # noqa: E731
    s.apply([(KS, b"own", Version(12, "n1", value=b"o1"))],
            cache_new=[storage_key(KS, b"own")])  # coordinated here: cached at once
    assert cached(b"own").value == b"o1"
    s.apply([(KS, b"new", Version(20, "n2", value=b"n1"))])  # as a replica: not cached
    assert cached(b"new") is MISSING
    s.apply([(KS, b"replica", Version(10, "n2", value=b"r1"))])  # below the watermark (20):
    assert cached(b"replica") is MISSING  # the merge reads RocksDB but does not fill the cache
    assert s.get(KS, b"replica").value == b"r1"  # a read caches it ...
    s.apply([(KS, b"replica", Version(11, "n2", value=b"r2"))])
    assert cached(b"replica").value == b"r2"  # ... and later writes replace it
    s.apply([(KS, b"own", Version(5, "n1", value=b"older"))],
            cache_new=[storage_key(KS, b"own")])  # loses the merge: the winner stays
    assert cached(b"own").value == b"o1" and s.get(KS, b"own").value == b"o1"
    assert s.cache.bytes == sum(_cached_size(s, k) for k in (b"own", b"replica"))
    s.close()


def _cached_size(s, key):
    from quorumkv.storage.cache import _size
    skey = storage_key(KS, key)
    return _size(skey, s.cache.get(skey))


def test_the_row_cache_stays_within_its_bound(tmp_path):
    from quorumkv.storage.cache import MISSING, RowCache
    cache = RowCache(10_000)
    for i in range(1000):
        cache.put(b"key%d" % i, Version(i, "n1", value=b"x" * 100))
        assert cache.bytes <= 10_000
    assert 0 < len(cache) < 1000
    assert cache.get(b"key999").ts == 999  # the newest stay
    cache.put(b"key999", None)
    assert cache.get(b"key999") is None
    disabled = RowCache(0)
    disabled.put(b"a", None)
    assert disabled.get(b"a") is MISSING


def test_the_row_cache_bound_holds_when_entries_grow_in_place_and_skips_large_values():
    from quorumkv.storage.cache import MISSING, RowCache
    cache = RowCache(100_000)
    for i in range(300):  # absences first (cheap entries) ...
        cache.put(b"key%d" % i, None)
    for i in range(300):  # ... then each replaced by a 1 KB value
        cache.put(b"key%d" % i, Version(i, "n1", value=b"x" * 1000))
        assert cache.bytes <= 100_000
    cache.put(b"big", Version(1, "n1", value=b"x" * 50_000))  # over 1/16 of the cache
    assert cache.get(b"big") is MISSING
    assert cache.get(b"key299").ts == 299


def test_the_row_cache_evicts_the_entry_least_recently_read_or_cached():
    from quorumkv.storage.cache import ENTRY_OVERHEAD_BYTES, MISSING, RowCache
    entry = ENTRY_OVERHEAD_BYTES + 3 + 10  # a 3-byte key with a 10-byte value
    cache = RowCache(20 * entry)  # 20 entries (none over 1/16 of the cache)
    keys = [b"k%02d" % i for i in range(23)]
    for k in keys[:20]:
        cache.put(k, Version(1, "n1", value=b"v" * 10))
    assert cache.get(keys[0]) is not MISSING  # read: now the most recent; keys[1] the least
    cache.put(keys[20], Version(1, "n1", value=b"v" * 10))
    assert cache.get(keys[1]) is MISSING
    cache.put_many([(keys[3], Version(2, "n1", value=b"w" * 10))])  # rewritten in place
    assert cache.get(keys[2]).ts == 1  # read: now the most recent
    cache.put(keys[21], Version(1, "n1", value=b"v" * 10))  # evicts keys[3], the least
    assert cache.get(keys[3]) is MISSING                      # recently read or cached
    cache.put(keys[22], Version(1, "n1", value=b"v" * 10))  # then keys[4]
    assert cache.get(keys[4]) is MISSING
    assert cache.get(keys[2]).ts == 1 and cache.get(keys[0]) is not MISSING
    assert len(cache) == 20 and cache.bytes == 20 * entry


def test_cached_versions_are_not_tracked_by_the_garbage_collector():
    """A full collection must not walk the row cache (storage/cache.py)."""
    import gc
    from quorumkv.storage.cache import RowCache
    cache = RowCache(1 << 20)
    cache.put_many([(b"k%d" % i, Version(i, "n1", value=b"v")) for i in range(100)],
                   {b"k%d" % i for i in range(100)})
    gc.collect()
    assert not any(gc.is_tracked(row) for row in cache._entries.values())
    assert cache.get(b"k7") == Version(7, "n1", value=b"v")
    assert type(cache.get(b"k7")) is Version
