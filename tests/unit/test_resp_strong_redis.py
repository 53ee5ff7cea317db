"""A strong keyspace's RESP commands (api/resp/strong.py) against Redis.

Each script runs on a fresh connection over the real server loop, registry and
KV layer, whose strong keyspace is served by tests/unit/strong_double.py (the
real RangeMachine of each range over a MemEngine, Raft skipped). The expected
replies are what redis-server 7.0.15 (Debian, x86-64, ``--save ''``) answered,
byte for byte, to the same commands on one redis-cli-like connection, each
script after FLUSHALL and UNWATCH (``python -m tests.unit.test_resp_strong_redis PORT``
records them again from a redis-server on that port).
Keys of multi-key commands share a hash tag, so they lie in one range (Redis
itself is not in cluster mode: it has no CROSSSLOT to compare).
"""

from __future__ import annotations

import shlex

import pytest

from .strong_double import run

SCRIPTS = {
    'get and set': [
        ('GET k', b'$-1\r\n'),
        ('SET k v', b'+OK\r\n'),
        ('GET k', b'$1\r\nv\r\n'),
        ('SET k w XX', b'+OK\r\n'),
        ('SET k x NX', b'$-1\r\n'),
        ('GET k', b'$1\r\nw\r\n'),
        ('SET k y NX GET', b'$1\r\nw\r\n'),
        ('SET k z XX GET', b'$1\r\nw\r\n'),
        ('SET n 1 XX', b'$-1\r\n'),
        ('SET n 1 NX GET', b'$-1\r\n'),
        ('GET n', b'$1\r\n1\r\n'),
        ('SET k v NX XX', b'-ERR syntax error\r\n'),
        ('SET k v EX', b'-ERR syntax error\r\n'),
        ('SET k v EX 0', b"-ERR invalid expire time in 'set' command\r\n"),
        ('SET k v EX abc', b'-ERR value is not an integer or out of range\r\n'),
        ('SET k v EX 10 PX 10', b'-ERR syntax error\r\n'),
        ('SET k v EX 10 EX 20', b'+OK\r\n'),
        ('TTL k', b':20\r\n'),
        ('SET k v EX abc NX XX', b'-ERR syntax error\r\n'),
        ('SET k v EX 10 EXAT 20', b'-ERR syntax error\r\n'),
        ('SET k v PX 5000 PX 6000 GET', b'$1\r\nv\r\n'),
        ('SET k v KEEPTTL EX 10', b'-ERR syntax error\r\n'),
        ('SET k v EX -1 EX 10', b'+OK\r\n'),
        ('SET k v EX 10 EX -1', b"-ERR invalid expire time in 'set' command\r\n"),
        ('SET k v EX 10 KEEPTTL', b'-ERR syntax error\r\n'),
        ('SET k v BOGUS', b'-ERR syntax error\r\n'),
        ('SET k', b"-ERR wrong number of arguments for 'set' command\r\n"),
        ('GET', b"-ERR wrong number of arguments for 'get' command\r\n"),
        ('GET a b', b"-ERR wrong number of arguments for 'get' command\r\n"),
    ],
    'set with expiry': [
        ('SET k v EX 100', b'+OK\r\n'),
        ('TTL k', b':100\r\n'),
        ('SET k v2 KEEPTTL', b'+OK\r\n'),
        ('TTL k', b':100\r\n'),
        ('GET k', b'$2\r\nv2\r\n'),
        ('SET k v3', b'+OK\r\n'),
        ('TTL k', b':-1\r\n'),
        ('SETEX e 100 v', b'+OK\r\n'),
        ('TTL e', b':100\r\n'),
        ('SETEX e 0 v', b"-ERR invalid expire time in 'setex' command\r\n"),
        ('SETEX e -5 v', b"-ERR invalid expire time in 'setex' command\r\n"),
        ('SETEX e x v', b'-ERR value is not an integer or out of range\r\n'),
        ('PSETEX p 100000 v', b'+OK\r\n'),
        ('TTL p', b':100\r\n'),
        ('PSETEX p 0 v', b"-ERR invalid expire time in 'psetex' command\r\n"),
        ('SET k v PXAT 1', b'+OK\r\n'),
        ('GET k', b'$-1\r\n'),
        ('SET k v EXAT 1', b'+OK\r\n'),
        ('SETEX e 100', b"-ERR wrong number of arguments for 'setex' command\r\n"),
    ],
    'setnx getset getdel': [
        ('SETNX k 1', b':1\r\n'),
        ('SETNX k 2', b':0\r\n'),
        ('GET k', b'$1\r\n1\r\n'),
        ('GETSET k 3', b'$1\r\n1\r\n'),
        ('GETSET new 1', b'$-1\r\n'),
        ('GETDEL k', b'$1\r\n3\r\n'),
        ('GETDEL k', b'$-1\r\n'),
        ('EXISTS k', b':0\r\n'),
        ('SETNX k', b"-ERR wrong number of arguments for 'setnx' command\r\n"),
        ('GETSET k', b"-ERR wrong number of arguments for 'getset' command\r\n"),
        ('GETDEL', b"-ERR wrong number of arguments for 'getdel' command\r\n"),
    ],
    'getex': [
        ('GETEX k', b'$-1\r\n'),
        ('SET k v', b'+OK\r\n'),
        ('GETEX k EX 100', b'$1\r\nv\r\n'),
        ('TTL k', b':100\r\n'),
        ('GETEX k PERSIST', b'$1\r\nv\r\n'),
        ('TTL k', b':-1\r\n'),
        ('GETEX k PX 50000', b'$1\r\nv\r\n'),
        ('TTL k', b':50\r\n'),
        ('GETEX k EX 0', b"-ERR invalid expire time in 'getex' command\r\n"),
        ('GETEX k EX', b'-ERR syntax error\r\n'),
        ('GETEX k FOO', b'-ERR syntax error\r\n'),
        ('GETEX k EX 10 PX 10', b'-ERR syntax error\r\n'),
        ('GETEX k PERSIST PERSIST', b'$1\r\nv\r\n'),
        ('GETEX k EX 10 EX 30', b'$1\r\nv\r\n'),
        ('TTL k', b':30\r\n'),
        ('GETEX k EX 10 PERSIST', b'-ERR syntax error\r\n'),
        ('GETEX k PERSIST EX 10', b'-ERR syntax error\r\n'),
        ('GETEX k EX abc PX 1', b'-ERR syntax error\r\n'),
        ('GETEX k PXAT 1', b'$1\r\nv\r\n'),
        ('EXISTS k', b':0\r\n'),
        ('GETEX', b"-ERR wrong number of arguments for 'getex' command\r\n"),
    ],
    'multi-key in one hash tag': [
        ('MSET {t}a 1 {t}b 2', b'+OK\r\n'),
        ('MGET {t}a {t}b {t}c', b'*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n'),
        ('EXISTS {t}a {t}b {t}c {t}a', b':3\r\n'),
        ('MSETNX {t}a 9 {t}z 9', b':0\r\n'),
        ('MGET {t}a {t}z', b'*2\r\n$1\r\n1\r\n$-1\r\n'),
        ('MSETNX {t}y 1 {t}z 2', b':1\r\n'),
        ('MGET {t}y {t}z', b'*2\r\n$1\r\n1\r\n$1\r\n2\r\n'),
        ('DEL {t}a {t}b {t}q', b':2\r\n'),
        ('UNLINK {t}y {t}z', b':2\r\n'),
        ('EXISTS {t}a {t}y', b':0\r\n'),
        ('MSET {t}a', b"-ERR wrong number of arguments for 'mset' command\r\n"),
        ('MSET {t}a 1 {t}b', b"-ERR wrong number of arguments for 'mset' command\r\n"),
        ('MSETNX {t}a 1 {t}b', b"-ERR wrong number of arguments for 'msetnx' command\r\n"),
        ('MGET', b"-ERR wrong number of arguments for 'mget' command\r\n"),
        ('DEL', b"-ERR wrong number of arguments for 'del' command\r\n"),
        ('EXISTS', b"-ERR wrong number of arguments for 'exists' command\r\n"),
    ],
    'incr family': [
        ('INCR n', b':1\r\n'),
        ('INCRBY n 10', b':11\r\n'),
        ('DECR n', b':10\r\n'),
        ('DECRBY n 5', b':5\r\n'),
        ('GET n', b'$1\r\n5\r\n'),
        ('INCRBY n abc', b'-ERR value is not an integer or out of range\r\n'),
        ('INCRBY n 1.5', b'-ERR value is not an integer or out of range\r\n'),
        ('INCRBY n 01', b'-ERR value is not an integer or out of range\r\n'),
        ('DECRBY n -9223372036854775808', b'-ERR decrement would overflow\r\n'),
        ('SET big 9223372036854775807', b'+OK\r\n'),
        ('INCR big', b'-ERR increment or decrement would overflow\r\n'),
        ('SET s abc', b'+OK\r\n'),
        ('INCR s', b'-ERR value is not an integer or out of range\r\n'),
        ('SET sp " 1"', b'+OK\r\n'),
        ('DECR s', b'-ERR value is not an integer or out of range\r\n'),
        ('INCR', b"-ERR wrong number of arguments for 'incr' command\r\n"),
        ('INCRBY n', b"-ERR wrong number of arguments for 'incrby' command\r\n"),
        ('DECRBY n 1 2', b"-ERR wrong number of arguments for 'decrby' command\r\n"),
    ],
    'incrbyfloat': [
        ('INCRBYFLOAT f 10.5', b'$4\r\n10.5\r\n'),
        ('INCRBYFLOAT f 0.1', b'$4\r\n10.6\r\n'),
        ('INCRBYFLOAT f -5', b'$3\r\n5.6\r\n'),
        ('INCRBYFLOAT f abc', b'-ERR value is not a valid float\r\n'),
        ('INCRBYFLOAT f 5.0e3', b'$22\r\n5005.60000000000000009\r\n'),
        ('GET f', b'$22\r\n5005.60000000000000009\r\n'),
        ('SET s abc', b'+OK\r\n'),
        ('INCRBYFLOAT s 1', b'-ERR value is not a valid float\r\n'),
        ('INCRBYFLOAT f inf', b'-ERR increment would produce NaN or Infinity\r\n'),
        ('INCRBYFLOAT f', b"-ERR wrong number of arguments for 'incrbyfloat' command\r\n"),
    ],
    'append setrange getrange strlen': [
        ('APPEND k hello', b':5\r\n'),
        ('APPEND k _world', b':11\r\n'),
        ('STRLEN k', b':11\r\n'),
        ('GETRANGE k 0 4', b'$5\r\nhello\r\n'),
        ('GETRANGE k -5 -1', b'$5\r\nworld\r\n'),
        ('GETRANGE k 5 1', b'$0\r\n\r\n'),
        ('SUBSTR k 1 3', b'$3\r\nell\r\n'),
        ('GETRANGE nope 0 -1', b'$0\r\n\r\n'),
        ('GETRANGE k a 1', b'-ERR value is not an integer or out of range\r\n'),
        ('SETRANGE k 6 W', b':11\r\n'),
        ('GET k', b'$11\r\nhello_World\r\n'),
        ('SETRANGE pad 3 x', b':4\r\n'),
        ('GET pad', b'$4\r\n\x00\x00\x00x\r\n'),
        ('SETRANGE k -1 x', b'-ERR offset is out of range\r\n'),
        ('SETRANGE k x x', b'-ERR value is not an integer or out of range\r\n'),
        ('SETRANGE k 536870912 x', b'-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n'),
        ('STRLEN nope', b':0\r\n'),
        ('SETRANGE empty 5 ""', b':0\r\n'),
        ('EXISTS empty', b':0\r\n'),
        ('APPEND k', b"-ERR wrong number of arguments for 'append' command\r\n"),
        ('STRLEN', b"-ERR wrong number of arguments for 'strlen' command\r\n"),
        ('GETRANGE k 0', b"-ERR wrong number of arguments for 'getrange' command\r\n"),
    ],
    'expire family': [
        ('EXPIRE k 100', b':0\r\n'),
        ('SET k v', b'+OK\r\n'),
        ('EXPIRE k 100', b':1\r\n'),
        ('TTL k', b':100\r\n'),
        ('EXPIRE k 50 GT', b':0\r\n'),
        ('EXPIRE k 200 GT', b':1\r\n'),
        ('TTL k', b':200\r\n'),
        ('EXPIRE k 100 LT', b':1\r\n'),
        ('TTL k', b':100\r\n'),
        ('EXPIRE k 10 NX', b':0\r\n'),
        ('PERSIST k', b':1\r\n'),
        ('PERSIST k', b':0\r\n'),
        ('TTL k', b':-1\r\n'),
        ('EXPIRE k 100 XX', b':0\r\n'),
        ('EXPIRE k 100 NX', b':1\r\n'),
        ('EXPIRE k 100 NX XX', b'-ERR NX and XX, GT or LT options at the same time are not compatible\r\n'),
        ('EXPIRE k 100 GT LT', b'-ERR GT and LT options at the same time are not compatible\r\n'),
        ('EXPIRE k 100 FOO', b'-ERR Unsupported option FOO\r\n'),
        ('EXPIRE k abc', b'-ERR value is not an integer or out of range\r\n'),
        ('EXPIRE k 9223372036854775807', b"-ERR invalid expire time in 'expire' command\r\n"),
        ('PEXPIRE k 100000', b':1\r\n'),
        ('TTL k', b':100\r\n'),
        ('PTTL nope', b':-2\r\n'),
        ('SET p v', b'+OK\r\n'),
        ('PTTL p', b':-1\r\n'),
        ('TTL nope', b':-2\r\n'),
        ('EXPIREAT k 4000000000', b':1\r\n'),
        ('EXISTS k', b':1\r\n'),
        ('PEXPIREAT k 1', b':1\r\n'),
        ('EXISTS k', b':0\r\n'),
        ('SET k v', b'+OK\r\n'),
        ('EXPIRE k -1', b':1\r\n'),
        ('EXISTS k', b':0\r\n'),
        ('SET k v', b'+OK\r\n'),
        ('EXPIREAT k 1', b':1\r\n'),
        ('EXISTS k', b':0\r\n'),
        ('EXPIRE k', b"-ERR wrong number of arguments for 'expire' command\r\n"),
        ('TTL', b"-ERR wrong number of arguments for 'ttl' command\r\n"),
        ('PERSIST', b"-ERR wrong number of arguments for 'persist' command\r\n"),
    ],
    'type': [
        ('TYPE k', b'+none\r\n'),
        ('SET k v', b'+OK\r\n'),
        ('TYPE k', b'+string\r\n'),
        ('TYPE', b"-ERR wrong number of arguments for 'type' command\r\n"),
    ],
    'multi exec': [
        ('MULTI', b'+OK\r\n'),
        ('INCR {t}n', b'+QUEUED\r\n'),
        ('SET {t}k v', b'+QUEUED\r\n'),
        ('GET {t}k', b'+QUEUED\r\n'),
        ('INCR {t}k', b'+QUEUED\r\n'),
        ('EXEC', b'*4\r\n:1\r\n+OK\r\n$1\r\nv\r\n-ERR value is not an integer or out of range\r\n'),
        ('GET {t}n', b'$1\r\n1\r\n'),
        ('EXEC', b'-ERR EXEC without MULTI\r\n'),
        ('DISCARD', b'-ERR DISCARD without MULTI\r\n'),
        ('MULTI', b'+OK\r\n'),
        ('MULTI', b'-ERR MULTI calls can not be nested\r\n'),
        ('DISCARD', b'+OK\r\n'),
        ('MULTI', b'+OK\r\n'),
        ('EXEC', b'*0\r\n'),
    ],
    'multi with a queue-time error aborts': [
        ('MULTI', b'+OK\r\n'),
        ('INCR {t}n', b'+QUEUED\r\n'),
        ('INCR', b"-ERR wrong number of arguments for 'incr' command\r\n"),
        ('EXEC', b'-EXECABORT Transaction discarded because of previous errors.\r\n'),
        ('GET {t}n', b'$-1\r\n'),
        ('MULTI', b'+OK\r\n'),
        ('INCR {t}n', b'+QUEUED\r\n'),
        ('NOSUCHCOMMAND', b"-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: \r\n"),
        ('EXEC', b'-EXECABORT Transaction discarded because of previous errors.\r\n'),
        ('GET {t}n', b'$-1\r\n'),
    ],
    'multi with a syntax error runs the rest': [
        ('MULTI', b'+OK\r\n'),
        ('SET {t}a 1 BOGUS', b'+QUEUED\r\n'),
        ('SET {t}b 2', b'+QUEUED\r\n'),
        ('INCRBY {t}b x', b'+QUEUED\r\n'),
        ('EXEC', b'*3\r\n-ERR syntax error\r\n+OK\r\n-ERR value is not an integer or out of range\r\n'),
        ('MGET {t}a {t}b', b'*2\r\n$-1\r\n$1\r\n2\r\n'),
    ],
    'multi: nested multi and watch inside answer errors, keyless commands queue': [
        ('MULTI', b'+OK\r\n'),
        ('MULTI', b'-ERR MULTI calls can not be nested\r\n'),
        ('INCR {t}x', b'+QUEUED\r\n'),
        ('WATCH {t}x', b'-ERR WATCH inside MULTI is not allowed\r\n'),
        ('PING', b'+QUEUED\r\n'),
        ('PING hi', b'+QUEUED\r\n'),
        ('PING a b', b'+QUEUED\r\n'),
        ('ECHO e', b'+QUEUED\r\n'),
        ('UNWATCH', b'+QUEUED\r\n'),
        ('EXEC', b"*6\r\n:1\r\n+PONG\r\n$2\r\nhi\r\n-ERR wrong number of arguments for 'ping' command\r\n$1\r\ne\r\n+OK\r\n"),
        ('GET {t}x', b'$1\r\n1\r\n'),
    ],
    'watch': [
        ('WATCH {t}k', b'+OK\r\n'),
        ('SET {t}k changed', b'+OK\r\n'),
        ('MULTI', b'+OK\r\n'),
        ('SET {t}k mine', b'+QUEUED\r\n'),
        ('EXEC', b'*-1\r\n'),
        ('GET {t}k', b'$7\r\nchanged\r\n'),
        ('WATCH {t}k', b'+OK\r\n'),
        ('MULTI', b'+OK\r\n'),
        ('SET {t}k mine', b'+QUEUED\r\n'),
        ('EXEC', b'*1\r\n+OK\r\n'),
        ('GET {t}k', b'$4\r\nmine\r\n'),
        ('WATCH {t}k', b'+OK\r\n'),
        ('UNWATCH', b'+OK\r\n'),
        ('SET {t}k other', b'+OK\r\n'),
        ('MULTI', b'+OK\r\n'),
        ('GET {t}k', b'+QUEUED\r\n'),
        ('EXEC', b'*1\r\n$5\r\nother\r\n'),
        ('WATCH {t}absent', b'+OK\r\n'),
        ('MULTI', b'+OK\r\n'),
        ('SET {t}absent 1', b'+QUEUED\r\n'),
        ('EXEC', b'*1\r\n+OK\r\n'),
        ('MULTI', b'+OK\r\n'),
        ('WATCH {t}k', b'-ERR WATCH inside MULTI is not allowed\r\n'),
        ('DISCARD', b'+OK\r\n'),
        ('WATCH', b"-ERR wrong number of arguments for 'watch' command\r\n"),
    ],
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_replies_match_redis(name):
    lines = [line for line, _ in SCRIPTS[name]]
    commands = [[a.encode() for a in shlex.split(line)] for line in lines]
    out = run(*commands)
    expected = b"".join(reply for _, reply in SCRIPTS[name])
    if out != expected:  # point at the first command that differs
        pos = 0
        for line, reply in SCRIPTS[name]:
            assert out[pos:pos + len(reply)] == reply, f"after {pos} bytes: {line}"
            pos += len(reply)
    assert out == expected


# ---- recording: python -m tests.unit.test_resp_strong_redis PORT ----------------------------
# prints SCRIPTS with the replies of the redis-server on 127.0.0.1:PORT (start one with
# `redis-server --port PORT --save ''`, stop it by pid); review the diff, paste it above.

def _read_reply(f) -> bytes:
    line = f.readline()
    if line[:1] in (b"+", b"-", b":"):
        return line
    n = int(line[1:-2])
    if line[:1] == b"$":
        return line if n < 0 else line + f.read(n + 2)
    return line + b"".join(_read_reply(f) for _ in range(max(n, 0)))


def record(port: int) -> str:
    import socket

    from .strong_double import command
    out = ["SCRIPTS = {"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        for name, script in SCRIPTS.items():
            for reset in ((b"FLUSHALL",), (b"UNWATCH",)):
                s.sendall(command(*reset))
                _read_reply(f)
            out.append(f"    {name!r}: [")
            for line, _ in script:
                s.sendall(command(*[a.encode() for a in shlex.split(line)]))
                out.append(f"        ({line!r}, {_read_reply(f)!r}),")
            out.append("    ],")
    return "\n".join(out + ["}"])


if __name__ == "__main__":
    import sys
    print(record(int(sys.argv[1])))
