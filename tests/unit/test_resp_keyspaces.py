"""Each RESP connection has a keyspace: it starts in db 0's, ``QKV.USE`` and
``SELECT`` switch it, every command runs on it, and an unknown keyspace is the
same error everywhere. Driven in process over the real KV layer (api/kv.py) and
a range map of three keyspaces: ``default`` (db 0 as the initial keyspace),
``users`` (db 1, default level ONE) and ``logs`` (no db number)."""

import asyncio

import pytest

from quorumkv.api.kv import KV, initial_keyspace
from quorumkv.config import ClusterSection, Config, NodeAddress, NodeSection
from quorumkv.core.consistency import Level
from quorumkv.core.placement import Keyspace, RangeMap, bootstrap_ranges
from quorumkv.errors import UnknownKeyspaceError, UnsupportedError

from .test_resp_connection import command, connection, two_keyspaces


def run_commands(*commands, finish=True, conn=None):
    """Send ``commands`` pipelined on one connection (a new one unless given),
    finishing every replica operation as it starts; the raw replies and the
    fake replicator."""
    async def run():
        c, kv = conn or connection()
        c.data_received(b"".join(command(*args) for args in commands))
        for _ in range(200):
            await asyncio.sleep(0)
            while finish and kv.pending:
                kv.finish(kv.pending[0][0])
        return bytes(c.transport.written), kv, c
    return asyncio.run(run())


def test_a_new_connection_uses_db_0s_keyspace_and_qkv_use_switches_it():
    out, kv, conn = run_commands((b"SET", b"k", b"d"), (b"QKV.USE",), (b"QKV.USE", b"users"),
                                 (b"QKV.USE",), (b"SET", b"k", b"u"), (b"GET", b"k"))
    assert out == b"+OK\r\n$7\r\ndefault\r\n+OK\r\n$5\r\nusers\r\n+OK\r\n$1\r\nu\r\n"
    assert kv.stores["default"] == {b"k": b"d"} and kv.stores["users"] == {b"k": b"u"}
    assert kv.seen == [("put", "default", b"k"), ("put", "users", b"k"),
                       ("get", "users", b"k")]


def test_the_same_key_in_two_keyspaces_holds_two_values():
    out, kv, _ = run_commands((b"SET", b"k", b"one"), (b"SELECT", b"1"), (b"SET", b"k", b"two"),
                              (b"GET", b"k"), (b"SELECT", b"0"), (b"GET", b"k"))
    assert out == b"+OK\r\n+OK\r\n+OK\r\n$3\r\ntwo\r\n+OK\r\n$3\r\none\r\n"


def test_a_command_after_a_switch_in_one_pipeline_runs_on_the_new_keyspace():
    """QKV.USE runs alone: after the SET before it has answered, before the GET."""
    async def run():
        conn, kv = connection()
        conn.data_received(command(b"SET", b"k", b"1") + command(b"QKV.USE", b"users")
                           + command(b"GET", b"k"))
        await asyncio.sleep(0)
        assert kv.seen == [("put", "default", b"k")]  # USE and GET wait for the SET
        kv.finish(b"k")
        for _ in range(5):
            await asyncio.sleep(0)
        assert kv.seen[-1] == ("get", "users", b"k")
        kv.finish(b"k")
        for _ in range(5):
            await asyncio.sleep(0)
        assert bytes(conn.transport.written) == b"+OK\r\n+OK\r\n$-1\r\n"
    asyncio.run(run())


@pytest.mark.parametrize("arg, reply", [
    (b"2", b"-ERR DB index is out of range\r\n"),
    (b"-1", b"-ERR DB index is out of range\r\n"),
    (b"abc", b"-ERR value is not an integer or out of range\r\n"),
    (b"01", b"-ERR value is not an integer or out of range\r\n"),
    (b"", b"-ERR value is not an integer or out of range\r\n"),
    (b"99999999999",
     b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"),
])
def test_select_of_a_db_no_keyspace_declares_is_redis_error_and_changes_nothing(arg, reply):
    out, kv, _ = run_commands((b"SELECT", b"1"), (b"SELECT", arg), (b"QKV.USE",))
    assert out == b"+OK\r\n" + reply + b"$5\r\nusers\r\n"


def test_an_unknown_keyspace_is_refused_and_the_connection_keeps_its_own():
    out, kv, _ = run_commands((b"QKV.USE", b"users"), (b"QKV.USE", b"nope"), (b"QKV.USE",),
                              (b"QKV.USE", b"a", b"b"))
    assert out == (b"+OK\r\n-ERR unknown keyspace 'nope'\r\n$5\r\nusers\r\n"
                   b"-ERR wrong number of arguments for 'qkv.use' command\r\n")


def test_qkv_use_reaches_a_keyspace_without_a_db_number():
    out, kv, _ = run_commands((b"QKV.USE", b"logs"), (b"SET", b"k", b"v"), (b"CLIENT", b"INFO"))
    assert kv.stores["logs"] == {b"k": b"v"}
    assert b" db=-1 " in out


def test_client_info_shows_the_connections_db():
    out, _, _ = run_commands((b"CLIENT", b"INFO"), (b"SELECT", b"1"), (b"CLIENT", b"INFO"))
    first, second = [line for line in out.split(b"\n") if b"id=" in line]
    assert b" db=0 " in first and b" db=1 " in second


def test_the_default_level_is_the_keyspaces_unless_the_connection_set_one():
    out, _, _ = run_commands((b"QKV.CONSISTENCY",), (b"QKV.USE", b"users"),
                             (b"QKV.CONSISTENCY",), (b"QKV.USE", b"default"),
                             (b"QKV.CONSISTENCY", b"ALL"), (b"SELECT", b"1"),
                             (b"QKV.CONSISTENCY",))
    assert out == b"+QUORUM\r\n+OK\r\n+ONE\r\n+OK\r\n+OK\r\n+OK\r\n+ALL\r\n"


def test_qkv_keyspaces_lists_every_keyspace_as_a_map():
    out, _, _ = run_commands((b"QKV.KEYSPACES",))
    assert out.startswith(b"*3\r\n*14\r\n$4\r\nname\r\n$7\r\ndefault\r\n$2\r\ndb\r\n:0\r\n")
    assert (b"$4\r\nname\r\n$5\r\nusers\r\n$2\r\ndb\r\n:1\r\n$4\r\nmode\r\n$8\r\neventual\r\n"
            b"$11\r\npartitioner\r\n$5\r\nrange\r\n$18\r\nreplication_factor\r\n:3\r\n"
            b"$19\r\ndefault_consistency\r\n$3\r\nONE\r\n$6\r\nranges\r\n:1\r\n") in out
    assert b"$4\r\nname\r\n$4\r\nlogs\r\n$2\r\ndb\r\n$-1\r\n" in out  # no db: nil
    out3, _, _ = run_commands((b"HELLO", b"3"), (b"QKV.KEYSPACES",))
    assert b"*3\r\n%7\r\n$4\r\nname\r\n$7\r\ndefault\r\n" in out3
    assert b"$4\r\nname\r\n$4\r\nlogs\r\n$2\r\ndb\r\n_\r\n" in out3


def test_the_multi_and_watch_refusals_name_the_connections_keyspace():
    out, _, _ = run_commands((b"SELECT", b"1"), (b"WATCH", b"k"), (b"MULTI",), (b"EXEC",))
    assert b"-ERR WATCH is not supported on the eventual keyspace 'users'" in out
    assert b"-ERR MULTI is not supported on the eventual keyspace 'users'" in out


def test_flushdb_flushes_the_connections_keyspace_and_flushall_every_one():
    _, kv, _ = run_commands((b"SELECT", b"1"), (b"FLUSHDB",))
    assert [s for s in kv.seen if s[0] == "truncate"] == [("truncate", "users", None)]
    _, kv, _ = run_commands((b"FLUSHALL",))
    assert [s[1] for s in kv.seen if s[0] == "truncate"] == ["default", "users", "logs"]


def test_copy_db_n_copies_into_the_keyspace_that_declares_db_n():
    out, kv, _ = run_commands((b"SET", b"k", b"v"), (b"COPY", b"k", b"k", b"DB", b"1"),
                              (b"COPY", b"k", b"k", b"DB", b"0"),
                              (b"COPY", b"k", b"x", b"DB", b"7"))
    assert out == (b"+OK\r\n:1\r\n-ERR source and destination objects are the same\r\n"
                   b"-ERR DB index is out of range\r\n")
    assert kv.stores["users"] == {b"k": b"v"}


def test_info_and_config_name_the_keyspaces():
    conn, kv = connection()
    node = conn.server.node
    node.config = Config(NodeSection(id="n1"), ClusterSection(nodes=(NodeAddress(id="n1"),)))
    node.me = node.config.me
    out, _, _ = run_commands((b"SELECT", b"1"), (b"INFO", b"cluster"),
                             (b"CONFIG", b"GET", b"databases"), conn=(conn, kv))
    assert b"connection_keyspace:users\r\n" in out and b"keyspaces:3\r\n" in out
    assert b"default_consistency:ONE\r\n" in out and b"connection_consistency:ONE" in out
    assert out.endswith(b"$9\r\ndatabases\r\n$1\r\n2\r\n")


# ---- KV: the one lookup from a keyspace name to what serves it ----------------------


class Node:
    def __init__(self, ranges):
        import types
        self.ranges, self.coordinator, self.clock_ms = ranges, object(), lambda: 0
        self.config = types.SimpleNamespace(node=types.SimpleNamespace(
            max_key_bytes=10, max_value_bytes=10))


def test_kv_resolves_an_eventual_keyspace_to_the_coordinator_and_refuses_the_rest():
    ranges = two_keyspaces()
    strong = Keyspace("ledger", 4, mode="strong")
    ranges.add_keyspace(strong, bootstrap_ranges(strong, ["n1"], 1, first_range_id=100))
    node = Node(ranges)
    kv = KV(node)
    assert kv.replicator("users") is node.coordinator
    with pytest.raises(UnknownKeyspaceError, match=r"^unknown keyspace 'nope'$"):
        kv.replicator("nope")
    with pytest.raises(UnsupportedError, match="strong mode"):
        kv.replicator("ledger")
    assert UnknownKeyspaceError.http_status == 404


def test_kv_addresses_keyspaces_by_db_number():
    kv = KV(Node(two_keyspaces()))
    assert (kv.initial, kv.by_db(0), kv.by_db(1), kv.by_db(2)) == ("default", "default",
                                                                  "users", None)
    assert [kv.db_of(n) for n in kv.names()] == [0, 1, None]
    assert kv.default_level("users") is Level.ONE
    kv.set_default_level("users", Level.ALL)
    assert kv.default_level("users") is Level.ALL


def test_the_initial_keyspace_is_the_one_that_declares_db_0():
    ranges = RangeMap()
    for ks in (Keyspace("default", 1, db=3), Keyspace("main", 2, db=0)):
        ranges.add_keyspace(ks, bootstrap_ranges(ks, ["n1"], 1, first_range_id=ks.keyspace_id))
    assert initial_keyspace(ranges) == "main"
    kv = KV(Node(ranges))
    assert (kv.by_db(0), kv.by_db(3), kv.db_of("default")) == ("main", "default", 3)
