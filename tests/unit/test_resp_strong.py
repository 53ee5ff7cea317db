"""What a strong keyspace's RESP commands do beyond Redis's replies (those are in
test_resp_strong_redis.py): one core/strong command per RESP command, ranges
(CROSSSLOT, hash tags), exactly-once sessions, transactions across ranges, the
commands not served, and the eventual keyspaces left as they were. Over the
real connection loop with tests/unit/strong_double.py serving the keyspace."""

from __future__ import annotations

import asyncio

from quorumkv.core.strong import commands as c

from .strong_double import NOW_MS, command, connection, run

CROSSSLOT = (b"-CROSSSLOT Keys in request don't hash to the same range of keyspace "
             b"'ledger' (give them one hash tag, e.g. {user1}.a and {user1}.b)\r\n")


def double(conn):
    return conn[1].strong_replicators["ledger"]


def spread_keys(conn, count=2):
    """``count`` keys in distinct ranges of the keyspace."""
    d = double(conn)
    seen, found = set(), []
    for i in range(1000):
        key = b"k%d" % i
        range_id = d.range_of([key])
        if range_id not in seen:
            seen.add(range_id)
            found.append(key)
        if len(found) == count:
            return found
    raise AssertionError("no keys in distinct ranges")


def test_each_command_is_one_core_command_with_resolved_expiry():
    conn = connection()
    run((b"SET", b"k", b"v", b"EX", b"10"), (b"DECRBY", b"n", b"3"),
        (b"EXPIRE", b"k", b"5", b"gt"), (b"GETEX", b"k", b"PX", b"7"),
        (b"QKV.CAS", b"k", b"v", b"w"), (b"SUBSTR", b"k", b"0", b"-1"), conn=conn)
    assert [call[0] for call in double(conn).calls] == [
        c.Set(b"k", b"v", NOW_MS + 10_000), c.Incr(b"n", -3),
        c.Expire(b"k", NOW_MS + 5000, ("GT",)), c.GetEx(b"k", NOW_MS + 7),
        c.Cas(b"k", b"v", b"w"), c.GetRange(b"k", 0, -1)]


def test_qkv_cas_swaps_only_from_the_expected_value():
    out = run((b"QKV.CAS", b"k", b"a", b"b"), (b"SET", b"k", b"a"),
              (b"QKV.CAS", b"k", b"x", b"b"), (b"QKV.CAS", b"k", b"a", b"b"),
              (b"GET", b"k"), (b"QKV.CAS", b"k", b"a"))
    assert out == (b":0\r\n+OK\r\n:0\r\n:1\r\n$1\r\nb\r\n"
                   b"-ERR wrong number of arguments for 'qkv.cas' command\r\n")


def test_keys_in_several_ranges_are_crossslot_and_change_nothing():
    conn = connection()
    a, b = spread_keys(conn)
    out = run((b"MSET", a, b"1", b, b"2"), (b"DEL", a, b), (b"MGET", a, b),
              (b"EXISTS", a, b), (b"MSETNX", a, b"1", b, b"2"), (b"EXISTS", a), conn=conn)
    assert out == CROSSSLOT * 5 + b":0\r\n"
    assert double(conn).index == 0  # nothing was proposed


def test_keys_with_one_hash_tag_share_a_range():
    conn = connection()
    out = run((b"MSET", b"{user1}.a", b"1", b"{user1}.b", b"2"),
              (b"MGET", b"{user1}.a", b"{user1}.b"), conn=conn)
    assert out == b"+OK\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n"


def test_writes_carry_a_session_and_reads_none():
    conn = connection()
    run((b"SET", b"a", b"1"), (b"GET", b"a"), (b"INCR", b"a"), conn=conn)
    (_, id1, seq1), (_, id2, seq2), (_, id3, seq3) = double(conn).calls
    assert len(id1) == 16 and (id2, seq2) == (b"", 0) and (id3, seq3) == (id1, 2)
    assert seq1 == 1
    other = connection(conn[1])
    run((b"SET", b"a", b"2"), conn=other)
    assert double(conn).calls[-1][1] not in (b"", id1)  # each connection its own id


def test_overlapping_writes_of_one_connection_use_different_sessions():
    """The range keeps one reply per session, for requests sent one after the
    other: two writes in flight at once must not share a session, or the second
    applied first would make the first a 'duplicate'."""
    async def go():
        conn, node = connection()
        d = node.strong_replicators["ledger"]
        gate = asyncio.Event()
        real = d.execute

        async def slow(command, client_id=b"", seq=0):
            await gate.wait()
            return await real(command, client_id, seq)
        d.execute = slow
        conn.data_received(command(b"INCR", b"{t}a") + command(b"INCR", b"{t}b"))
        for _ in range(10):
            await asyncio.sleep(0)
        gate.set()
        for _ in range(20):
            await asyncio.sleep(0)
        (_, id_a, _), (_, id_b, _) = d.calls
        assert id_a != id_b
        assert bytes(conn.transport.written) == b":1\r\n:1\r\n"
        conn.data_received(command(b"INCR", b"{t}a"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert d.calls[-1][1] in (id_a, id_b)  # reused once answered
        assert d.calls[-1][2] == 2
    asyncio.run(go())


def test_a_retried_session_seq_is_not_applied_twice():
    """The double runs the real machine: the same (client id, seq) again is answered
    with the kept reply, not applied again -- what the replicator's retries rely on."""
    async def go():
        conn, node = connection()
        d = node.strong_replicators["ledger"]
        conn.data_received(command(b"INCR", b"n"))
        for _ in range(20):
            await asyncio.sleep(0)
        _, client_id, seq = d.calls[0]
        again = await d.execute(c.Incr(b"n", 1), client_id, seq)
        assert again.value == 1
        assert (await d.execute(c.Get(b"n"))).value == b"1"
    asyncio.run(go())


def test_a_transaction_across_ranges_is_refused_at_queue_time_and_exec_aborts():
    conn = connection()
    a, b = spread_keys(conn)
    out = run((b"MULTI",), (b"INCR", a), (b"INCR", b), (b"EXEC",), (b"GET", a), conn=conn)
    assert out == (b"+OK\r\n+QUEUED\r\n" + CROSSSLOT
                   + b"-EXECABORT Transaction discarded because of previous errors.\r\n"
                   + b"$-1\r\n")


def test_watched_keys_and_the_transaction_must_share_a_range():
    conn = connection()
    a, b = spread_keys(conn)
    out = run((b"WATCH", a, b), (b"WATCH", a), (b"MULTI",), (b"SET", b, b"1"), (b"EXEC",),
              conn=conn)
    assert out == (CROSSSLOT + b"+OK\r\n+OK\r\n" + CROSSSLOT
                   + b"-EXECABORT Transaction discarded because of previous errors.\r\n")


def test_exec_sends_one_txn_with_the_watched_versions():
    conn = connection()
    out = run((b"SET", b"{t}a", b"1"), (b"WATCH", b"{t}a", b"{t}b"), (b"MULTI",),
              (b"INCR", b"{t}a"), (b"TYPE", b"{t}b"), (b"EXEC",), conn=conn)
    assert out == b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:2\r\n+none\r\n"
    txn = double(conn).calls[-1][0]
    assert txn == c.Txn((c.Incr(b"{t}a", 1), c.Get(b"{t}b")), ((b"{t}a", 1), (b"{t}b", 0)))


def test_a_watched_key_changed_gives_the_null_array_in_resp2_and_resp3():
    for hello, null in ((b"2", b"*-1\r\n"), (b"3", b"_\r\n")):
        conn = connection()
        run((b"HELLO", hello), conn=conn)
        out = run((b"WATCH", b"k"), (b"SET", b"k", b"x"), (b"MULTI",), (b"GET", b"k"),
                  (b"EXEC",), conn=conn)
        assert out == b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n" + null


def test_commands_that_need_the_connection_cannot_be_queued():
    out = run((b"MULTI",), (b"SELECT", b"1"), (b"CLIENT", b"ID"), (b"EXEC",))
    assert out == (b"+OK\r\n-ERR SELECT cannot be queued in a transaction of the strong "
                   b"keyspace 'ledger': only its key commands can\r\n"
                   b"-ERR CLIENT cannot be queued in a transaction of the strong "
                   b"keyspace 'ledger': only its key commands can\r\n"
                   b"-EXECABORT Transaction discarded because of previous errors.\r\n")


def test_data_commands_not_served_name_the_command_and_the_mode():
    out = run((b"SCAN", b"0"), (b"RENAME", b"a", b"b"), (b"DBSIZE",), (b"COPY", b"a", b"b"),
              (b"PING",))
    for name in (b"SCAN", b"RENAME", b"DBSIZE", b"COPY"):
        assert (b"-ERR " + name + b" is not served on strong keyspaces yet (keyspace "
                b"'ledger' is in strong mode); it works on eventual ones\r\n") in out
    assert out.endswith(b"+PONG\r\n")


def test_a_key_over_the_limit_is_refused_before_anything_is_proposed():
    conn = connection()
    big = b"k" * 513  # node.max_key_bytes is 512
    out = run((b"SET", big, b"v"), (b"MGET", b"a", big), (b"WATCH", big), conn=conn)
    assert out.count(b"-ERR key too large: 513 bytes, limit is 512") == 3
    assert double(conn).calls == []


def test_eventual_keyspaces_keep_their_refusals():
    out = run((b"QKV.USE", b"default"), (b"INCR", b"n"), (b"QKV.CAS", b"k", b"a", b"b"),
              (b"WATCH", b"k"))
    assert out.startswith(b"+OK\r\n-ERR INCR needs an atomic read-modify-write")
    assert b"-ERR QKV.CAS needs an atomic read-modify-write" in out
    assert out.endswith(b"-ERR WATCH is not supported on the eventual keyspace 'default': "
                        b"it has no transactions to guard\r\n")


def test_switching_keyspace_switches_command_families():
    async def go():
        conn, node = connection()
        conn.data_received(command(b"INCR", b"n") + command(b"QKV.USE", b"default")
                           + command(b"GET", b"n") + command(b"QKV.USE", b"ledger")
                           + command(b"GET", b"n"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert node.coordinator.seen == [("get", "default", b"n")]  # eventual: coordinator
        node.coordinator.finish(b"n")
        for _ in range(20):
            await asyncio.sleep(0)
        assert bytes(conn.transport.written) == b":1\r\n+OK\r\n$-1\r\n+OK\r\n$1\r\n1\r\n"
    asyncio.run(go())


def test_flushall_is_refused_whole_while_a_strong_keyspace_exists():
    async def go():
        conn, node = connection()
        node.coordinator.stores["default"][b"e"] = b"1"
        conn.data_received(command(b"QKV.USE", b"default") + command(b"FLUSHALL"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert bytes(conn.transport.written) == (
            b"+OK\r\n-ERR FLUSHALL is not served while the cluster has strong keyspaces "
            b"(ledger) (strong keyspaces do not serve FLUSHDB yet); FLUSHDB each eventual "
            b"keyspace instead\r\n")
        assert node.coordinator.stores["default"] == {b"e": b"1"}  # nothing flushed
        assert not [s for s in node.coordinator.seen if s[0] == "truncate"]
    asyncio.run(go())
