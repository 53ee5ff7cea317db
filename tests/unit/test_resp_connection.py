"""The pipelined connection loop (api/resp/server.py) driven in process, over the
real key-value layer (api/kv.py) with a fake replicator whose operations finish
when the test says: replies in order, keys held until a command has wholly
finished, protocol errors after the commands before them; and each connection's
keyspace (QKV.USE, SELECT) over a range map of three keyspaces."""

import asyncio
import types

import pytest

from quorumkv.api.kv import KV
from quorumkv.api.resp import COMMANDS, server as S
from quorumkv.api.resp.registry import ONE_KEY, Spec
from quorumkv.core.consistency import Level
from quorumkv.core.placement import Keyspace, RangeMap, bootstrap_ranges


class Version:
    ts = 1

    def __init__(self, value, expiry_ms=0):
        self.value, self.expiry_ms = value, expiry_ms

    def is_live(self, now):
        return True


class FakeReplicator:
    """The coordinator under the real KV: reads and writes finish when
    ``finish(key)`` is called, in the order started. ``data`` is the keyspace
    ``default``'s, ``stores`` every keyspace's; ``seen`` logs (op, keyspace, key)."""

    def __init__(self):
        self.stores = {}
        self.data = self.stores.setdefault("default", {})
        self.pending, self.log, self.seen, self.fail = [], [], [], set()

    def finish(self, key):
        for i, (k, fn) in enumerate(self.pending):
            if k == key:
                del self.pending[i]
                return fn()
        raise AssertionError(f"nothing pending on {key!r}")

    def new_version(self, value, expiry_ms=0):
        return Version(value, expiry_ms)

    def start_read(self, ks, key, level, on_done, session=None):
        self.log.append(("get", key))
        self.seen.append(("get", ks, key))
        store = self.stores.setdefault(ks, {})
        self.pending.append((key, lambda: on_done(
            Version(store[key]) if key in store else None, None)))

    def start_write(self, ks, key, version, level, on_done, session=None):
        self.log.append(("put", key))
        self.seen.append(("put", ks, key))

        def done():
            self.stores.setdefault(ks, {})[key] = version.value
            self.log.append(("put-done", key))
            on_done(None)
        self.pending.append((key, done))

    async def truncate(self, ks, level, sync):
        self.seen.append(("truncate", ks, None))
        self.stores.get(ks, {}).clear()
        return 1

    def write(self, ks, key, version, level, session=None):
        future = asyncio.get_running_loop().create_future()
        if key in self.fail:
            future.set_exception(RuntimeError("boom"))
        else:
            self.start_write(ks, key, version, level, lambda e: future.set_result(version))
        return future


def two_keyspaces() -> RangeMap:
    """``default`` (no db number: db 0 as the initial keyspace), ``users`` (db 1,
    default level ONE) and ``logs`` (no db number: QKV.USE only)."""
    ranges = RangeMap()
    first_id = 1
    for ks in (Keyspace("default", 1), Keyspace("users", 2, partitioner="range", db=1,
                                                default_consistency="ONE"),
               Keyspace("logs", 3)):
        cut = bootstrap_ranges(ks, ["n1"], 4, first_range_id=first_id)
        ranges.add_keyspace(ks, cut)
        first_id += len(cut)
    return ranges


class Transport:
    def __init__(self):
        self.written, self.paused = bytearray(), False

    def write(self, data):
        self.written += data

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False

    def close(self):
        pass

    def get_extra_info(self, name):
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else None

    def get_write_buffer_size(self):
        return 0


def connection(ranges=None):
    """A connection over the real KV, whose replicator is a FakeReplicator (returned)."""
    node = types.SimpleNamespace(
        coordinator=FakeReplicator(), ranges=ranges or two_keyspaces(),
        default_level=Level.parse(b"QUORUM"), clock_ms=lambda: 0,
        config=types.SimpleNamespace(node=types.SimpleNamespace(
            max_key_bytes=512, max_value_bytes=1 << 20, max_clients=100)))
    from quorumkv.node.metrics import Metrics
    node.metrics = Metrics()
    node.kv = KV(node)
    conn = S.RespConnection(S.RespServer(node))
    conn.connection_made(Transport())
    return conn, node.coordinator


def command(*args) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


async def turns(n=3):
    for _ in range(n):
        await asyncio.sleep(0)


def test_a_second_answer_does_not_release_a_later_commands_key(monkeypatch):
    """A handler that hands its callback on and then raises is answered with the
    error at once; the callback's later answer must change nothing."""
    async def run():
        conn, kv = connection()
        later = []

        def now(ctx, args, done):
            later.append(done)
            raise RuntimeError("after handing the callback on")
        monkeypatch.setitem(COMMANDS, "TEST.TWICE", Spec(None, 2, now, (), ONE_KEY, False))
        conn.data_received(command(b"TEST.TWICE", b"k") + command(b"SET", b"k", b"1")
                           + command(b"GET", b"k"))
        assert kv.log == [("put", b"k")]  # SET started once TEST.TWICE answered; GET waits
        later[0](b"+LATE\r\n")             # the stale second answer
        assert kv.log == [("put", b"k")]  # ... did not let GET past the running SET
        kv.finish(b"k")
        kv.finish(b"k")
        await turns()
        assert bytes(conn.transport.written) == (
            b"-ERR internal error: RuntimeError: after handing the callback on\r\n"
            b"+OK\r\n$1\r\n1\r\n")
    asyncio.run(run())


def test_a_failed_mset_holds_its_keys_until_its_other_writes_finish():
    async def run():
        conn, kv = connection()
        kv.fail.add(b"a")
        conn.data_received(command(b"MSET", b"a", b"1", b"b", b"2") + command(b"GET", b"b"))
        await turns()
        assert ("get", b"b") not in kv.log  # MSET's write of b still runs
        kv.finish(b"b")
        await turns()
        assert kv.log.index(("put-done", b"b")) < kv.log.index(("get", b"b"))
        kv.finish(b"b")
        await turns()
        assert bytes(conn.transport.written).startswith(b"-ERR internal error")
        assert bytes(conn.transport.written).endswith(b"$1\r\n2\r\n")
    asyncio.run(run())


def test_commands_before_a_protocol_error_in_the_same_read_run_first():
    async def run():
        conn, kv = connection()
        conn.data_received(command(b"SET", b"a", b"1") + command(b"PING") + b"*1\r\n$x\r\n")
        assert conn.transport.paused  # nothing more is read once the error is queued
        conn.data_received(b"*1\r\n$4\r\nPING\r\n" * 1000)  # ignored
        kv.finish(b"a")
        await turns()
        assert bytes(conn.transport.written) == (
            b"+OK\r\n+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
        assert kv.data == {b"a": b"1"} and conn.closing
    asyncio.run(run())


def test_the_slow_log_times_a_command_to_its_own_answer():
    async def run():
        conn, kv = connection()
        conn.server.slow_s = 0.2
        conn.data_received(command(b"GET", b"slow") + command(b"GET", b"fast"))
        kv.finish(b"fast")
        await asyncio.sleep(0.25)  # the slow one's time passes; the fast one answered
        kv.finish(b"slow")
        await turns()
        logged = [entry[3][1] for entry in conn.server.hooks.slowlog]
        assert logged == [b"slow"]
    asyncio.run(run())


def test_blind_writes_of_one_key_overlap_and_so_do_reads_but_not_with_each_other():
    """redis-benchmark without -r pipelines SETs and GETs of one key: plain SETs
    overlap (last write wins by their start order), GETs overlap, and a GET waits
    for the SETs before it, a SET for the GETs before it."""
    async def run():
        conn, kv = connection()
        conn.data_received(command(b"SET", b"k", b"1") + command(b"SET", b"k", b"2")
                           + command(b"GET", b"k") + command(b"GET", b"k")
                           + command(b"SET", b"k", b"3"))
        assert kv.log == [("put", b"k"), ("put", b"k")]
        kv.finish(b"k")
        kv.finish(b"k")
        assert kv.log[-2:] == [("get", b"k"), ("get", b"k")]
        kv.finish(b"k")
        assert kv.log[-1] == ("get", b"k")  # the SET still waits for the second GET
        kv.finish(b"k")
        kv.finish(b"k")
        await turns()
        assert bytes(conn.transport.written) == b"+OK\r\n+OK\r\n$1\r\n2\r\n$1\r\n2\r\n+OK\r\n"
        assert kv.data[b"k"] == b"3" and conn.busy_keys == {}
    asyncio.run(run())


def test_a_set_with_options_reads_first_so_it_holds_its_key_alone():
    async def run():
        conn, kv = connection()
        conn.data_received(command(b"SET", b"k", b"1") + command(b"SET", b"k", b"2", b"NX"))
        await turns()
        assert kv.log == [("put", b"k")]  # SET NX waits: it reads, then writes
        kv.finish(b"k")
        await turns()
        assert kv.log[-1] == ("get", b"k")
    asyncio.run(run())
