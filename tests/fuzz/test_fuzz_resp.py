"""Random and mutated RESP frames against a real node: after every input the node
must still answer the canary's PING and read back every acknowledged write.

An input is a pipeline of frames: valid commands, the same commands mutated (byte
flips, truncation, insertions, cuts, splices of two frames), headers with huge or
negative counts and lengths, nested arrays, inline lines with quotes and escapes,
invalid UTF-8 and plain random bytes. It is sent on a fresh connection, followed
by an ECHO of a fresh token, and read until the token comes back or the node
closes the connection (see ``send_and_read``).
"""

from __future__ import annotations

import secrets
import socket
import threading
import time

from hypothesis import example, given
from hypothesis import strategies as st

from .conftest import CANARY_TIMEOUT_S, budget_for, fuzz_settings

READ_TIMEOUT_S = 10.0   # a fuzzed connection must be answered and closed within this
IDLE_S = 0.3            # no answer for this long: the node waits for more of a frame

# Read-only or harmless commands and writes to the fuzzer's own keys; nothing that
# changes the node itself (CONFIG, CLIENT KILL, FLUSHALL, SHUTDOWN...).
COMMANDS = [b"GET", b"SET", b"DEL", b"UNLINK", b"MGET", b"MSET", b"EXISTS", b"TYPE",
            b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT", b"TTL", b"PTTL", b"PERSIST",
            b"GETEX", b"GETDEL", b"GETSET", b"SETEX", b"PSETEX", b"SETNX", b"SCAN", b"KEYS",
            b"DBSIZE", b"PING", b"ECHO", b"COMMAND", b"INFO", b"HELLO", b"SELECT",
            b"QKV.CONSISTENCY", b"QKV.SESSION", b"QKV.RECEIPT", b"INCR", b"APPEND",
            b"NOSUCHCOMMAND", b"get", b"sEt"]
TRICKY_ARGS = [b"", b"\xff\xfe\xfd", b"\xc3\x28", b"\xed\xa0\x80", "ключ".encode(),
               b"*", b"a*" * 12 + b"b", b"[^", b"\\", b"-1", b"0", b"-9223372036854775808",
               b"9223372036854775807", b"99999999999999999999", b"EX", b"PX", b"NX", b"XX",
               b"GT", b"LT", b"KEEPTTL", b"GET", b"MATCH", b"COUNT", b"TYPE", b"3", b"ALL",
               b"ANY", b"ON", b"\r\n", b"$-1\r\n", b"*3000000000\r\n"]
HEADERS = [b"*3000000000\r\n", b"*-1\r\n", b"*-5\r\n", b"*0\r\n", b"*1048577\r\n",
           b"*1\r\n$-1\r\n", b"*1\r\n$-5\r\n", b"*1\r\n$536870913\r\n",
           b"*1\r\n$9223372036854775807\r\n", b"*2\r\n$3\r\nGET\r\n$4000000000\r\n",
           b"*1\r\n*3000000000\r\n", b"*2\r\n*2\r\n*2\r\n$1\r\na\r\n",
           b"%3000000000\r\n", b"~3000000000\r\n", b">3000000000\r\n", b"|3000000000\r\n",
           b"*1\r\n$4\r\nPING", b"*01\r\n$4\r\nPING\r\n", b"*1\r\n$04\r\nPING\r\n",
           b"*" + b"9" * 70000, b"*1\r\n$" + b"9" * 70000]

args = st.one_of(st.binary(max_size=48), st.sampled_from(TRICKY_ARGS),
                 st.text(max_size=12).map(str.encode))


def multibulk(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


commands = st.builds(lambda name, rest: [name] + rest, st.sampled_from(COMMANDS),
                     st.lists(args, max_size=5))
valid_frames = commands.map(multibulk)


@st.composite
def mutated_frames(draw):
    data = bytearray(draw(valid_frames))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "cut", "splice", "count"]))
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[i:]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(HEADERS))
        elif kind == "cut":
            del data[i:i + draw(st.integers(1, 16))]
        elif kind == "splice":
            other = draw(valid_frames)
            data[i:] = other[draw(st.integers(0, len(other))):]
        else:  # a count or length replaced by a huge or negative number
            digits = b"%d" % draw(st.integers(-2**70, 2**70))
            at = data.find(b"\r\n", i)
            start = max(data.rfind(b"*", 0, i), data.rfind(b"$", 0, i)) + 1
            if at > 0 and start > 0:
                data[start:at] = digits
    return bytes(data)


@st.composite
def nested_frames(draw):
    depth = draw(st.integers(1, 12))
    head = b"*2\r\n$3\r\nGET\r\n" if draw(st.booleans()) else b""
    count = draw(st.sampled_from([b"1", b"2", b"60000", b"3000000000"]))
    return head + (b"*" + count + b"\r\n") * depth + b"$1\r\nk\r\n"


inline_text = st.lists(st.sampled_from([b"SET", b"GET", b"ECHO", b"PING", b"k", b"v", b" ",
                                        b"\t", b'"', b"'", b"\\", b"\\x4", b"\\x41", b"\\'",
                                        b"\\n", b"\x0b", b"\xff", b"\x00", b"\r"]),
                       max_size=12).map(lambda parts: b"".join(parts) + b"\r\n")
frames = st.one_of(valid_frames, mutated_frames(), st.sampled_from(HEADERS), nested_frames(),
                   inline_text, st.binary(max_size=200))
pipelines = st.lists(frames, min_size=1, max_size=5).map(b"".join)


def send_and_read(address, payload: bytes, meanwhile=lambda: None) -> bytes:
    """What the node answers to ``payload`` followed by ``ECHO <token>``.

    Reading ends when the token comes back (every command before it ran), or the
    node closes the connection (a protocol error). If the node goes quiet for
    IDLE_S first, it is waiting for the rest of a frame: the client then closes
    its side, and the node must close too. ``meanwhile`` runs right after sending.
    """
    token = secrets.token_hex(8).encode()
    with socket.create_connection((address.host, address.resp_port),
                                  timeout=READ_TIMEOUT_S) as s:
        try:
            s.sendall(payload + multibulk([b"ECHO", token]))
        except OSError as exc:
            if isinstance(exc, socket.timeout):
                raise
            return b""  # the node closed first (after a protocol error): fine
        meanwhile()
        out = b""
        s.settimeout(IDLE_S)
        try:
            while token not in out:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    s.shutdown(socket.SHUT_WR)
                    s.settimeout(READ_TIMEOUT_S)  # a stalled node fails here
                    while chunk := s.recv(65536):
                        out += chunk
                    break
                if not chunk:
                    break
                out += chunk
        except ConnectionResetError:
            pass
        return out


def _run(cluster, guard, payload: bytes, budget) -> None:
    if budget.spent():
        return
    answer = send_and_read(cluster.address("n1"), payload, guard.ping_meanwhile)
    # a command may be refused, never crash its handler
    assert b"-ERR internal error" not in answer, (payload[:300], answer[:300])
    guard.check()


@fuzz_settings(max_examples=3000)
@given(pipelines)
@example(b"*3000000000\r\n")
@example(b"SET " + b"a" * 40 + b" x\r\nKEYS " + b"a*" * 20 + b"b\r\n")
@example(b'SET "a b\r\n')
@example(b"*1\r\n" * 2000 + b"*3000000000\r\n")
def test_random_and_mutated_frames_harm_nothing(fuzz_cluster, guard, payload):
    _run(fuzz_cluster, guard, payload, budget_for("frames", 20.0))


@fuzz_settings(max_examples=300)
@given(st.lists(commands.map(multibulk), min_size=1, max_size=4).map(b"".join),
       st.integers(1, 3))
def test_valid_pipelines_cut_into_pieces_are_all_answered(fuzz_cluster, guard, payload,
                                                          pieces):
    """A valid pipeline of random commands, fed in pieces, is answered through to
    the PING sent after it, and the connection stays open."""
    if budget_for("pieces", 8.0).spent():
        return
    a = fuzz_cluster.address("n1")
    with socket.create_connection((a.host, a.resp_port), timeout=READ_TIMEOUT_S) as s:
        step = max(1, len(payload) // pieces)
        for i in range(0, len(payload), step):
            s.sendall(payload[i:i + step])
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        out = b""
        while not out.endswith(b"+PONG\r\n"):
            chunk = s.recv(65536)
            assert chunk, f"the node closed before answering the pipeline: {out[-200:]!r}"
            out += chunk
    guard.check()


def test_slow_clients_do_not_hold_up_the_canary(fuzz_cluster, guard):
    """A few clients trickle frames a byte at a time while the canary keeps
    getting answers in time."""
    a = fuzz_cluster.address("n1")
    frames_to_trickle = [multibulk([b"SET", b"fuzz:slow:%d" % i, b"v" * 64]) for i in range(4)]
    frames_to_trickle.append(b"*1\r\n$100\r\n" + b"x" * 50)   # never completed
    frames_to_trickle.append(b"GET " + b"k" * 100)             # an inline line, no end
    errors: list = []

    def trickle(frame: bytes) -> None:
        try:
            with socket.create_connection((a.host, a.resp_port), timeout=READ_TIMEOUT_S) as s:
                for i in range(len(frame)):
                    s.sendall(frame[i:i + 1])
                    time.sleep(0.01)
                if frame.endswith(b"\r\n"):
                    assert s.recv(100) == b"+OK\r\n"
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=trickle, args=(f,), daemon=True)
               for f in frames_to_trickle]
    for t in threads:
        t.start()
    started = time.monotonic()
    while any(t.is_alive() for t in threads) and time.monotonic() - started < 30:
        t0 = time.monotonic()
        guard.check()
        assert time.monotonic() - t0 < CANARY_TIMEOUT_S
        time.sleep(0.05)
    for t in threads:
        t.join(READ_TIMEOUT_S)
    assert errors == []
    assert guard.canary.get(b"fuzz:slow:3") == b"v" * 64
