"""String and keyspace commands (STRLEN, GETRANGE/SUBSTR, LCS, EXPIRETIME/PEXPIRETIME,
TOUCH, RANDOMKEY, OBJECT, MEMORY, COPY, RENAME, RENAMENX) answer byte for byte as a
real redis-server does.

Each case runs the same commands against a QuorumKV node and against redis-server
(started here on a free port, in a temporary directory, with one database as
QuorumKV has, and stopped by pid) and compares the raw RESP replies. Where QuorumKV
differs on purpose (OBJECT IDLETIME, the HELP texts, MEMORY USAGE figures,
RANDOMKEY), the test says what it answers instead.
"""

from __future__ import annotations

import random
import socket
import subprocess

import pytest

from quorumkv.api.resp.registry import COMMANDS
from quorumkv.api.resp.subcommands import CONTAINERS
from quorumkv.core.lcs import MAX_CELLS

from .cluster import ProcessCluster

FAR_FUTURE_MS = 4102444800499  # 2100-01-01 plus 499 ms: EXPIRETIME rounds it down


class Raw:
    """A RESP connection that returns every reply as the exact bytes received."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def call(self, *args) -> bytes:
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))
        return self._reply()

    def _reply(self) -> bytes:
        line = self.file.readline()
        assert line.endswith(b"\r\n"), f"connection closed mid-reply: {line!r}"
        kind, n = line[:1], line[1:-2]
        if kind in b"$=!" and int(n) >= 0:
            return line + self.file.read(int(n) + 2)
        if kind in b"*~>%|" and int(n) >= 0:
            count = int(n) * (2 if kind in b"%|" else 1)
            return line + b"".join(self._reply() for _ in range(count))
        return line

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture(scope="module")
def pair(cluster, redis_server):
    """``(quorumkv, redis)``: raw connections to node n1 and to redis-server."""
    ours, theirs = Raw(cluster.address("n1").resp_port), Raw(redis_server)
    yield ours, theirs
    ours.close()
    theirs.close()


def same_replies(pair, case: str, commands: list[tuple]) -> list[bytes]:
    """Run ``commands`` (``{p}`` in an argument: this case's key prefix) on both
    servers; assert every reply is the same bytes; the replies."""
    ours, theirs = pair
    replies = []
    for command in commands:
        args = [a.replace("{p}", f"{case}:") if isinstance(a, str) else a for a in command]
        mine, reference = ours.call(*args), theirs.call(*args)
        assert mine == reference, f"{args}: QuorumKV {mine!r}, redis-server {reference!r}"
        replies.append(mine)
    return replies


GETRANGES = [(0, -1), (-3, -1), (1, 3), (10, 20), (-100, -50), (-100, 100), (3, 1),
             (-1, -5), (0, 0), (4, 4), (5, 5), (-5, -5), (-6, -6), (0, -6), (2, -3),
             ("9223372036854775807", "9223372036854775807"),
             ("-9223372036854775808", "-9223372036854775808"), ("-9223372036854775808", -1)]


def test_strlen_getrange_substr(pair):
    commands = [("SET", "{p}k", "hello"), ("SET", "{p}empty", ""),
                ("STRLEN", "{p}k"), ("STRLEN", "{p}empty"), ("STRLEN", "{p}missing"),
                ("STRLEN",), ("STRLEN", "{p}k", "x")]
    for start, end in GETRANGES:
        commands += [("GETRANGE", "{p}k", start, end), ("SUBSTR", "{p}k", start, end),
                     ("GETRANGE", "{p}empty", start, end),
                     ("GETRANGE", "{p}missing", start, end)]
    commands += [("GETRANGE", "{p}k", "a", 1), ("GETRANGE", "{p}k", 0, "x"),
                 ("GETRANGE", "{p}k", 0, "99999999999999999999"),
                 ("GETRANGE", "{p}missing", "a", 1), ("GETRANGE", "{p}k", 0),
                 ("SUBSTR", "{p}k", 0, 1, 2)]
    same_replies(pair, "getrange", commands)


def test_expiretime_and_pexpiretime(pair):
    replies = same_replies(pair, "expiretime", [
        ("SET", "{p}k", "v", "PXAT", FAR_FUTURE_MS), ("SET", "{p}up", "v", "PXAT",
                                                      FAR_FUTURE_MS + 1),
        ("SET", "{p}forever", "v"),
        ("EXPIRETIME", "{p}k"), ("PEXPIRETIME", "{p}k"), ("EXPIRETIME", "{p}up"),
        ("EXPIRETIME", "{p}forever"), ("PEXPIRETIME", "{p}forever"),
        ("EXPIRETIME", "{p}missing"), ("PEXPIRETIME", "{p}missing"),
        ("EXPIRETIME",), ("PEXPIRETIME", "{p}k", "x"),
    ])
    assert replies[3:6] == [b":4102444800\r\n", b":4102444800499\r\n", b":4102444801\r\n"]


def test_touch_counts_existing_keys_each_time_named(pair):
    replies = same_replies(pair, "touch", [
        ("SET", "{p}a", "1"), ("SET", "{p}b", "2"),
        ("TOUCH", "{p}a", "{p}missing", "{p}a", "{p}b"), ("TOUCH", "{p}missing"),
        ("TOUCH",),
    ])
    assert replies[2] == b":3\r\n"


ENCODING_VALUES = ["hello", "12345", "0", "-1", "0123", "-0", "+1", " 1", "1 ", "1_0",
                   "-", "", "-9223372036854775808", "9223372036854775807",
                   "9223372036854775808", "-9223372036854775809", "1" * 20, "x" * 44,
                   "x" * 45, "1" * 44 + "x", "٣", "3.5"]


def test_object_encoding_refcount_freq(pair):
    commands = []
    for n, value in enumerate(ENCODING_VALUES):
        commands += [("SET", f"{{p}}v{n}", value), ("OBJECT", "ENCODING", f"{{p}}v{n}")]
    commands += [("SET", "{p}s", "not shared"), ("OBJECT", "REFCOUNT", "{p}s"),
                 ("OBJECT", "REFCOUNT", "{p}missing"), ("OBJECT", "ENCODING", "{p}missing"),
                 ("OBJECT", "FREQ", "{p}s"), ("OBJECT", "FREQ", "{p}missing"),
                 ("OBJECT", "IDLETIME", "{p}missing"),
                 ("OBJECT", "foo"), ("OBJECT", "foo", "bar"), ("OBJECT", "ENCODING"),
                 ("OBJECT", "encoding", "{p}s", "extra"), ("OBJECT", "HELP", "extra"),
                 ("OBJECT",), ("object", "refcount")]
    replies = same_replies(pair, "object", commands)
    encodings = replies[1:2 * len(ENCODING_VALUES):2]
    assert set(encodings) == {b"$6\r\nembstr\r\n", b"$3\r\nint\r\n", b"$3\r\nraw\r\n"}


def test_object_idletime_and_help_say_what_is_tracked(pair):
    ours, theirs = pair
    ours.call("SET", "idle:k", "v")
    assert ours.call("OBJECT", "IDLETIME", "idle:k") == (
        b"-ERR idle time not tracked: QuorumKV does not record when a key was last "
        b"read or written\r\n")
    mine, reference = ours.call("OBJECT", "HELP"), theirs.call("OBJECT", "HELP")
    assert mine.split(b"\r\n")[1] == reference.split(b"\r\n")[1]  # the same first line
    for name in ("ENCODING", "FREQ", "IDLETIME", "REFCOUNT", "HELP"):
        assert b"+" + name.encode() in mine
    help_lines = ours.call("MEMORY", "HELP").split(b"\r\n")
    assert help_lines[0].startswith(b"*") and help_lines[1].startswith(b"+MEMORY <subcommand>")
    assert any(line.startswith(b"+USAGE <key> [SAMPLES <count>]") for line in help_lines)


def test_memory_usage_options_and_missing_keys(pair):
    same_replies(pair, "memory", [
        ("MEMORY", "USAGE", "{p}missing"), ("MEMORY", "USAGE", "{p}missing", "SAMPLES", 5),
        ("SET", "{p}k", "v"),
        ("MEMORY", "USAGE", "{p}k", "SAMPLES", "x"), ("MEMORY", "USAGE", "{p}k", "SAMPLES"),
        ("MEMORY", "USAGE", "{p}k", "SAMPLES", -1), ("MEMORY", "USAGE", "{p}k", "foo"),
        ("MEMORY", "USAGE", "{p}missing", "foo"), ("MEMORY", "USAGE"), ("MEMORY", "foo"),
        ("MEMORY",), ("MEMORY", "HELP", "x"),
    ])


def test_memory_usage_counts_key_value_and_version_overhead(cluster):
    client = cluster.redis("n1")
    client.set("mem:k", b"x" * 500)
    small = client.memory_usage("mem:k")
    client.set("mem:k", b"x" * 1000)
    assert client.memory_usage("mem:k") - small == 500  # the value, byte for byte
    client.set("mem:longer-key", b"x" * 1000)
    assert client.memory_usage("mem:longer-key") - client.memory_usage("mem:k") == 9
    # storage key (2 + 8 + key), RocksDB's 8-byte suffix, and a version header
    assert 500 + 5 + 18 < small < 500 + 5 + 18 + 40
    assert client.memory_usage("mem:k", samples=0) == client.memory_usage("mem:k")


def test_copy(pair):
    replies = same_replies(pair, "copy", [
        ("SET", "{p}a", "va", "PXAT", FAR_FUTURE_MS), ("SET", "{p}plain", "vp"),
        ("COPY", "{p}a", "{p}a"), ("COPY", "{p}missing", "{p}missing"),
        ("COPY", "{p}a", "{p}b"), ("GET", "{p}b"), ("PEXPIRETIME", "{p}b"),
        ("COPY", "{p}plain", "{p}b"), ("GET", "{p}b"),
        ("COPY", "{p}plain", "{p}b", "REPLACE"), ("GET", "{p}b"), ("PEXPIRETIME", "{p}b"),
        ("COPY", "{p}missing", "{p}c"), ("EXISTS", "{p}c"),
        ("COPY", "{p}a", "{p}b", "DB"), ("COPY", "{p}a", "{p}b", "DB", "x"),
        ("COPY", "{p}a", "{p}b", "DB", 1), ("COPY", "{p}a", "{p}b", "DB", -1),
        ("COPY", "{p}a", "{p}b", "DB", "4294967296"), ("COPY", "{p}a", "{p}a", "DB", 1),
        ("COPY", "{p}a", "{p}d", "DB", 0, "REPLACE"), ("GET", "{p}d"),
        ("COPY", "{p}a", "{p}b", "foo"), ("COPY", "{p}a", "{p}b", "REPLACE", "DB"),
        ("COPY", "{p}a"), ("GET", "{p}a"), ("PEXPIRETIME", "{p}a"),
    ])
    assert replies[4] == b":1\r\n" and replies[6] == b":4102444800499\r\n"


def test_rename_and_renamenx(pair):
    replies = same_replies(pair, "rename", [
        ("RENAME", "{p}missing", "{p}x"), ("RENAME", "{p}missing", "{p}missing"),
        ("RENAMENX", "{p}missing", "{p}x"),
        ("SET", "{p}a", "va", "PXAT", FAR_FUTURE_MS),
        ("RENAME", "{p}a", "{p}a"), ("RENAMENX", "{p}a", "{p}a"), ("GET", "{p}a"),
        ("SET", "{p}dst", "old", "EX", 1000),
        ("RENAMENX", "{p}a", "{p}dst"), ("GET", "{p}dst"),
        ("RENAME", "{p}a", "{p}dst"), ("GET", "{p}dst"), ("PEXPIRETIME", "{p}dst"),
        ("EXISTS", "{p}a"),
        ("SET", "{p}plain", "vp"), ("RENAME", "{p}plain", "{p}dst"),
        ("PEXPIRETIME", "{p}dst"), ("GET", "{p}dst"),
        ("RENAMENX", "{p}dst", "{p}fresh"), ("GET", "{p}fresh"), ("EXISTS", "{p}dst"),
        ("RENAME", "{p}fresh"), ("RENAMENX", "{p}fresh", "{p}x", "y"),
    ])
    assert replies[10] == b"+OK\r\n" and replies[12] == b":4102444800499\r\n"


def test_rename_is_seen_from_every_node(cluster):
    n1, n2, n3 = (cluster.redis(n) for n in ("n1", "n2", "n3"))
    n1.set("moved:src", "payload", px=3_600_000)
    assert n1.rename("moved:src", "moved:dst")
    assert n3.get("moved:dst") == b"payload" and n2.exists("moved:src") == 0
    assert 0 < n2.pttl("moved:dst") <= 3_600_000
    assert n2.copy("moved:dst", "moved:copy") and n3.get("moved:copy") == b"payload"


def _lcs_forms(p: str) -> list[tuple]:
    a, b = f"{p}a", f"{p}b"
    return [("LCS", a, b), ("LCS", a, b, "LEN"), ("LCS", a, b, "IDX"),
            ("LCS", a, b, "IDX", "WITHMATCHLEN"),
            ("LCS", a, b, "IDX", "MINMATCHLEN", 2, "WITHMATCHLEN"),
            ("LCS", b, a, "IDX", "WITHMATCHLEN")]


def test_lcs_documented_example_and_errors(pair):
    replies = same_replies(pair, "lcs", [
        ("SET", "{p}a", "ohmytext"), ("SET", "{p}b", "mynewtext"),
        *_lcs_forms("{p}"),
        ("LCS", "{p}a", "{p}b", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN"),
        ("LCS", "{p}a", "{p}b", "IDX", "MINMATCHLEN", -5),
        ("LCS", "{p}a", "{p}b", "LEN", "IDX"), ("LCS", "{p}a", "{p}b", "idx", "len"),
        ("LCS", "{p}a", "{p}b", "MINMATCHLEN"), ("LCS", "{p}a", "{p}b", "MINMATCHLEN", "x"),
        ("LCS", "{p}a", "{p}b", "foo"), ("LCS", "{p}a", "{p}missing"),
        ("LCS", "{p}missing", "{p}missing", "IDX"), ("LCS", "{p}a"),
    ])
    assert replies[2] == b"$6\r\nmytext\r\n"


def test_lcs_of_random_values_matches_redis(pair):
    rng = random.Random(10)
    commands = []
    for n in range(12):
        alphabet = rng.choice(["ab", "acgt", "abcdefghij"])
        a = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        commands += [("SET", f"{{p}}{n}a", a), ("SET", f"{{p}}{n}b", b),
                     *_lcs_forms(f"{{p}}{n}")]
    same_replies(pair, "lcsrandom", commands)


def test_lcs_in_resp3_answers_a_map(pair):
    for conn in pair:
        conn.call("HELLO", "3")
    try:
        same_replies(pair, "lcs3", [("SET", "{p}a", "ohmytext"), ("SET", "{p}b", "mynewtext"),
                                    ("LCS", "{p}a", "{p}b", "IDX", "WITHMATCHLEN")])
    finally:
        for conn in pair:
            conn.call("HELLO", "2")


def test_lcs_over_the_cell_limit_is_refused_and_the_node_keeps_serving(cluster):
    client = cluster.redis("n1")
    side = 4097  # 4097 * 4097 > MAX_CELLS = 4096 * 4096
    client.set("lcsbig:a", b"a" * side)
    client.set("lcsbig:b", b"b" * side)
    with pytest.raises(Exception) as refused:
        client.execute_command("LCS", "lcsbig:a", "lcsbig:b", "LEN")
    assert str(refused.value) == (
        f"LCS of values of {side} and {side} bytes needs {side * side} cells, over the limit "
        f"of {MAX_CELLS} (LCS needs memory and time in proportion to the product of the "
        f"lengths)")
    client.set("lcsbig:b", b"ab" * 2048)  # 4097 * 4096 cells: still over
    with pytest.raises(Exception):
        client.execute_command("LCS", "lcsbig:a", "lcsbig:b")
    client.set("lcsbig:a", b"ba" * 2048)  # exactly at the limit: answered
    assert client.execute_command("LCS", "lcsbig:a", "lcsbig:b", "LEN") == 4095
    assert cluster.redis("n2").ping()


def test_command_specs_carry_redis_arity_flags_and_key_positions(pair):
    """COMMAND INFO's first six fields, and the subcommands' specs, as in Redis 7."""
    names = ["strlen", "getrange", "substr", "lcs", "expiretime", "pexpiretime", "touch",
             "randomkey", "copy", "rename", "renamenx", "object", "memory"]
    ours, theirs = pair
    for name in names:
        mine, reference = ours.call("COMMAND", "INFO", name), theirs.call("COMMAND", "INFO", name)
        # name, arity, flags, first key, last key, key step (Redis goes on with ACL
        # categories, tips, key specs and subcommands)
        assert _fields(mine, 6) == _fields(reference, 6), name
    for container in ("OBJECT", "MEMORY"):
        assert COMMANDS[container].arity == -2 and COMMANDS[container].flags == ()
        for sub, spec in CONTAINERS[container].subs.items():
            full_name = f"{container.lower()}|{sub.lower()}"
            reference = theirs.call("COMMAND", "INFO", full_name)
            assert _fields(reference, 6) == _spec_fields(full_name, spec), full_name


def _fields(info: bytes, count: int) -> bytes:
    """The first ``count`` fields of the one command a ``COMMAND INFO`` reply
    describes, as bytes (simple fields, or arrays of simple fields)."""
    lines = info.split(b"\r\n")[2:]  # past the reply's and the command's array headers
    out, i = [], 0
    for _ in range(count):
        line = lines[i]
        out.append(line)
        i += 1
        if line.startswith(b"$"):
            out.append(lines[i])
            i += 1
        elif line.startswith(b"*"):
            out += lines[i:i + int(line[1:])]
            i += int(line[1:])
    return b"\r\n".join(out) + b"\r\n"


def _spec_fields(name: str, spec) -> bytes:
    first, last, step = spec.keys
    flags = b"".join(b"+%s\r\n" % f.encode() for f in spec.flags)
    return (b"$%d\r\n%s\r\n:%d\r\n*%d\r\n%s:%d\r\n:%d\r\n:%d\r\n"
            % (len(name), name.encode(), spec.arity, len(spec.flags), flags, first, last, step))


def test_randomkey(tmp_path):
    """nil when empty (also when every key is deleted or expired); otherwise a live
    key, found from any random start by falling over to the next ranges."""
    c = ProcessCluster(tmp_path, nodes=1).start()
    try:
        client = c.redis("n1")
        assert client.randomkey() is None
        client.set("only", "1")
        assert {client.randomkey() for _ in range(30)} == {b"only"}  # 16 ranges, one key
        keys = {f"k{i}".encode() for i in range(50)}
        client.mset({k: b"v" for k in keys})
        seen = {client.randomkey() for _ in range(200)}
        assert seen <= keys | {b"only"} and len(seen) >= 10
        client.delete("only", *keys)
        client.set("expired", "v", pxat=1)
        assert client.randomkey() is None
    finally:
        c.close()


def test_redis_cli_bigkeys_and_memkeys_report_true_sizes(cluster, redis_cli):
    """redis-cli --bigkeys sizes strings with STRLEN, --memkeys with MEMORY USAGE."""
    client = cluster.redis("n1")
    client.set("cli:biggest", b"z" * 100_000)  # larger than any other value of this module
    port = str(cluster.address("n1").resp_port)
    for option, size in (("--bigkeys", 100_000),
                         ("--memkeys", client.memory_usage("cli:biggest"))):
        out = subprocess.run([redis_cli, "-p", port, option], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert f"Biggest string found '\"cli:biggest\"' has {size} bytes" in out.stdout, \
            out.stdout[-2000:]
