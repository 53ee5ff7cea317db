"""Keyspace truncation (FLUSHDB) in the storage engine and its sweep.

A truncation at T hides every version of its keyspace stamped at or before T from
every read path, drops writes of such versions whatever path they come by, and
deletes the stored ones: with one range delete when nothing newer than T is
stored, else by a sweep that keeps anything newer. It survives restarts, and so
does an unfinished sweep.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quorumkv.core import truncation as tr
from quorumkv.core.hlc import HLC
from quorumkv.core.placement import Keyspace, RangeMap, bootstrap_ranges
from quorumkv.core.version import Version
from quorumkv.node.truncation import Truncations, TruncationRefused
from quorumkv.storage.engine import Durability, Storage

KS, OTHER = 1, 2
NOW_MS = 1_800_000_000_000


def open_storage(path) -> Storage:
    return Storage(str(path), Durability.PERIODIC)


def everything(s: Storage, ks: int = KS) -> list:
    """Every stored entry of a keyspace, hidden or not: what is on disk."""
    return [pkey for pkey, _ in s.iter_range_raw(ks, b"", b"", include_hidden=True)]


@pytest.fixture
def loop():
    """One event loop per test: a storage keeps the loop of its first batch."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def truncate_now(loop, s: Storage, ks: int, ts: int) -> bool:
    """``Storage.truncate`` and its batch."""
    async def run():
        done = asyncio.get_running_loop().create_future()
        sweep = s.truncate(ks, ts, done.set_result)
        assert await done is None
        return sweep
    return loop.run_until_complete(run())


def v(ts: int, value: bytes = b"x") -> Version:
    return Version(ts, "n1", value=value)


def test_a_truncation_hides_and_deletes_older_versions_and_drops_late_writes(tmp_path, loop):
    s = open_storage(tmp_path)
    s.apply([(KS, b"a", v(10)), (KS, b"b", v(20)), (OTHER, b"a", v(15))])
    assert truncate_now(loop, s, KS, 30) is False  # nothing newer than 30: one range delete
    assert everything(s) == []
    assert s.get(KS, b"a") is None and s.get_many(KS, [b"a", b"b"]) == [None, None]
    assert s.get(OTHER, b"a").ts == 15  # another keyspace is untouched
    s.apply([(KS, b"a", v(25)), (KS, b"c", v(30))])  # late: a repair, a hint, a stream
    assert everything(s) == []
    s.apply([(KS, b"d", v(31, b"after"))])
    assert s.get(KS, b"d").value == b"after"
    s.close()
    s = open_storage(tmp_path)  # the truncation is durable
    assert s.truncated == {KS: 30} and s.unswept == {}
    s.apply([(KS, b"a", v(29))])
    assert s.get(KS, b"a") is None and s.get(KS, b"d").value == b"after"
    s.close()


def test_reads_never_see_a_hidden_version_through_the_row_cache(tmp_path, loop):
    s = open_storage(tmp_path)
    s.apply([(KS, b"a", v(10))], cache_new=[b"\x00\x01a"])
    assert s.get(KS, b"a").ts == 10  # cached
    truncate_now(loop, s, KS, 30)
    assert s.get(KS, b"a") is None
    s.close()


def test_with_a_newer_version_stored_the_older_ones_are_hidden_until_swept(tmp_path, loop):
    s = open_storage(tmp_path)
    s.apply([(KS, b"a", v(10)), (KS, b"b", v(20)), (KS, b"new", v(40))])
    assert truncate_now(loop, s, KS, 30) is True  # 40 is stored: no range delete
    assert sorted(everything(s)) == [b"a", b"b", b"new"]  # still on disk
    assert s.get(KS, b"a") is None and s.get(KS, b"new").ts == 40
    assert [k for k, _ in s.scan(KS, b"", b"", 10)[0]] == [b"new"]
    assert [k for k, _ in s.iter_range_raw(KS, b"", b"")] == [b"new"]
    assert s.get_many(KS, [b"b", b"new"])[0] is None
    s.close()
    s = open_storage(tmp_path)  # a restart before the sweep: still hidden, still owed
    assert s.unswept == {KS: 30} and s.get(KS, b"b") is None
    truncations = Truncations(s, None, HLC(), lambda: NOW_MS, 500)
    assert loop.run_until_complete(truncations.sweep(KS)) == 2
    assert everything(s) == [b"new"] and s.unswept == {}
    s.close()
    s = open_storage(tmp_path)
    assert s.unswept == {} and s.truncated == {KS: 30}
    s.close()


def test_a_write_newer_than_the_truncation_in_the_same_batch_survives_the_drop(tmp_path, loop):
    s = open_storage(tmp_path)
    s.apply([(KS, b"a", v(10))])

    async def run():
        loop = asyncio.get_running_loop()
        acked = loop.create_future()
        s.write_soon([(KS, b"a", v(31, b"new")), (KS, b"b", v(29))], acked.set_result)
        truncated = loop.create_future()
        s.truncate(KS, 30, truncated.set_result)  # same loop turn, so the same batch
        assert await acked is None and await truncated is None

    loop.run_until_complete(run())
    assert everything(s) == [b"a"] and s.get(KS, b"a").value == b"new"
    s.close()


def test_the_sweep_keeps_a_key_rewritten_while_it_runs(tmp_path, loop):
    s = open_storage(tmp_path)
    s.apply([(KS, b"k%04d" % i, v(10)) for i in range(5000)] + [(KS, b"zz", v(50))])
    truncations = Truncations(s, None, HLC(), lambda: NOW_MS, 500)

    async def run():
        assert s.truncate(KS, 30, lambda error: None) is True
        sweep = asyncio.ensure_future(truncations.sweep(KS))
        await asyncio.sleep(0)  # the sweep has begun: its view predates this write
        done = asyncio.get_running_loop().create_future()
        s.write_soon([(KS, b"k4999", v(60, b"kept"))], done.set_result)
        await done
        return await sweep

    assert loop.run_until_complete(run()) == 4999
    assert sorted(everything(s)) == [b"k4999", b"zz"]
    assert s.get(KS, b"k4999").value == b"kept"
    s.close()


def test_an_older_truncation_changes_nothing(tmp_path, loop):
    s = open_storage(tmp_path)
    truncate_now(loop, s, KS, 30)
    s.apply([(KS, b"a", v(25)), (KS, b"b", v(35))])
    assert truncate_now(loop, s, KS, 20) is False
    assert s.truncated == {KS: 30} and s.get(KS, b"b").ts == 35
    s.close()


def keyspace_map() -> RangeMap:
    ks = Keyspace("default", KS)
    ranges = RangeMap()
    ranges.add_keyspace(ks, bootstrap_ranges(ks, ["n1"], 1))
    return ranges


def test_applying_a_truncation_moves_the_clock_past_it_and_refuses_one_from_ahead(tmp_path, loop):
    s = open_storage(tmp_path)
    hlc = HLC()
    truncations = Truncations(s, keyspace_map(), hlc, lambda: NOW_MS, 500)
    ts = (NOW_MS + 400) << 16  # ahead, within the bound
    assert loop.run_until_complete(truncations.apply("default", ts, sync=True)) is True
    assert hlc.now(NOW_MS) > ts  # this node's next write sorts after the FLUSHDB
    assert truncations.table() == (("default", ts),)
    try:
        loop.run_until_complete(truncations.apply("default", (NOW_MS + 600) << 16))
    except TruncationRefused as exc:
        assert "clock skew" in str(exc)
    else:
        raise AssertionError("a truncation from a clock 600 ms ahead was taken")
    assert s.truncated == {KS: ts}
    s.close()


@given(st.integers(0, 2**64 - 1), st.booleans(), st.integers(0, 2**16 - 1),
       st.text(min_size=1, max_size=20), st.text(max_size=20))
def test_truncation_records_round_trip(ts, swept, keyspace_id, target, keyspace):
    assert tr.decode_truncation(tr.encode_truncation(ts, swept)) == (ts, swept)
    assert tr.truncation_keyspace(tr.truncation_key(keyspace_id)) == keyspace_id
    assert tr.parse_owed_key(tr.owed_key(target, keyspace_id)) == (target, keyspace_id)
    assert tr.owed_key(target, keyspace_id).startswith(tr.owed_prefix(target))
    assert tr.decode_owed(tr.encode_owed(keyspace, ts)) == (keyspace, ts)
