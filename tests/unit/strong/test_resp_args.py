"""Redis arguments to commands, and the argument errors, as redis-server 7.0.15
answered the same commands (redis-py's execute_command, a fresh database holding
k = "1"). A command Redis accepted must build the command written beside it."""

from __future__ import annotations

import pytest

from quorumkv.core.strong import commands as c
from quorumkv.core.strong.resp_args import (
    ArgError, command_from_args, is_supported, queued_command,
)

NOW = 1_700_000_000_000
MAX = 2**63 - 1
SYNTAX = "ERR syntax error"
NOT_INT = "ERR value is not an integer or out of range"


def invalid(command):
    return f"ERR invalid expire time in '{command}' command"


def arity(command):
    return f"ERR wrong number of arguments for '{command}' command"


REFUSED = {
    "SET k v NX XX": SYNTAX, "SET k v EX 10 PX 10": SYNTAX, "SET k v EX": SYNTAX,
    "SET k v EX 0": invalid("set"), "SET k v EX abc": NOT_INT,
    "SET k v PX 9223372036854775807": invalid("set"), "SET k v EX 9223372036854775": invalid("set"),
    "SET k v KEEPTTL EX 5": SYNTAX, "SET k v PX 10 KEEPTTL": SYNTAX, "SET k v FOO": SYNTAX,
    "SET k v PXAT -5": invalid("set"), "SET k v EX 9223372036854776": invalid("set"),
    "SET k v EXAT 9223372036854776": invalid("set"), "SET k v EX abc NX XX": SYNTAX,
    "SET k v EX 10 EX abc": NOT_INT,
    "SETEX k 0 v": invalid("setex"), "SETEX k abc v": NOT_INT, "SETEX k 10": arity("setex"),
    "PSETEX k -1 v": invalid("psetex"), "SETEX k 9223372036854776 v": invalid("setex"),
    "GETEX k EX 10 PX 10": SYNTAX, "GETEX k PERSIST EX 10": SYNTAX, "GETEX k FOO": SYNTAX,
    "GETEX k EX": SYNTAX, "GETEX k EX 0": invalid("getex"), "GETEX k EX abc PX 1": SYNTAX,
    "INCRBY k abc": NOT_INT, "INCRBY k 1.5": NOT_INT,
    "DECRBY k -9223372036854775808": "ERR decrement would overflow",
    "DECRBY k 9223372036854775808": NOT_INT, "INCR": arity("incr"), "INCR a b": arity("incr"),
    "INCRBYFLOAT k abc": "ERR value is not a valid float",
    "INCRBYFLOAT k 1e5000": "ERR value is not a valid float",
    "INCRBYFLOAT nope nan": "ERR value is not a valid float",
    "SETRANGE k abc v": NOT_INT, "SETRANGE k -1 v": "ERR offset is out of range",
    "GETRANGE k a 1": NOT_INT, "GETRANGE k 0": arity("getrange"),
    "EXPIRE k abc": NOT_INT, "EXPIRE k 10 FOO": "ERR Unsupported option FOO",
    "EXPIRE k abc FOO": "ERR Unsupported option FOO",
    "EXPIRE k 10 NX XX": "ERR NX and XX, GT or LT options at the same time are not compatible",
    "EXPIRE k 10 GT LT": "ERR GT and LT options at the same time are not compatible",
    "EXPIRE k 9223372036854775807": invalid("expire"),
    "EXPIRE k 9223372036854775": invalid("expire"),
    "PEXPIRE k 9223372036854775807": invalid("pexpire"),
    "EXPIREAT k 9223372036854775807": invalid("expireat"),
    "EXPIRE k -9223372036854775808": invalid("expire"),
    "EXPIRE k -9223372036854776": invalid("expire"),
    "MSET a": arity("mset"), "MSET a 1 b": arity("mset"), "MSETNX a": arity("msetnx"),
    "DEL": arity("del"), "EXISTS": arity("exists"), "MGET": arity("mget"), "TTL": arity("ttl"),
    "TTL a b": arity("ttl"), "PERSIST": arity("persist"), "GETDEL a b": arity("getdel"),
    "GETSET a": arity("getset"), "SETNX a": arity("setnx"), "APPEND a": arity("append"),
    "STRLEN": arity("strlen"), "GET a b": arity("get"),
}

ACCEPTED = {
    "SET k v EXAT 9223372036854775": c.Set(b"k", b"v", 9223372036854775000),
    "SET k v GET NX": c.Set(b"k", b"v", nx=True, get=True),
    "SET k v nx get": c.Set(b"k", b"v", nx=True, get=True),
    "SET k v EX 10 EX 10": c.Set(b"k", b"v", NOW + 10_000),
    "SET k v KEEPTTL KEEPTTL": c.Set(b"k", b"v", keep_ttl=True),
    "SET k v XX XX": c.Set(b"k", b"v", xx=True),
    "SET k v px 5 XX GET": c.Set(b"k", b"v", NOW + 5, xx=True, get=True),
    "SETEX k 10 v": c.Set(b"k", b"v", NOW + 10_000),
    "PSETEX k 10 v": c.Set(b"k", b"v", NOW + 10),
    "GETEX k PERSIST PERSIST": c.GetEx(b"k", persist=True),
    "GETEX k PXAT 1 PXAT 2": c.GetEx(b"k", 2),
    "GETEX k": c.GetEx(b"k"),
    "PEXPIREAT k 9223372036854775807": c.Expire(b"k", MAX),
    "EXPIRE k 10 nx": c.Expire(b"k", NOW + 10_000, ("NX",)),
    "EXPIRE k 10 GT GT": c.Expire(b"k", NOW + 10_000, ("GT",)),
    "EXPIRE k -9223372036854775": c.Expire(b"k", -9223372036854775000 + NOW),
    "PEXPIRE k -9223372036854775808": c.Expire(b"k", -2**63 + NOW),
    "MSET a 1 b 2": c.MSet(((b"a", b"1"), (b"b", b"2"))),
    "SETRANGE k 0 v": c.SetRange(b"k", 0, b"v"),
    "SETRANGE k 9223372036854775807 v": c.SetRange(b"k", MAX, b"v"),  # the machine refuses it
    "DECRBY k 3": c.Incr(b"k", -3), "DECR k": c.Incr(b"k", -1), "INCR k": c.Incr(b"k"),
    "INCRBY k -9223372036854775808": c.Incr(b"k", -2**63),
    "INCRBYFLOAT k 0x1p3": c.IncrByFloat(b"k", b"0x1p3"),
    "TTL k": c.Ttl(b"k", True), "PTTL k": c.Ttl(b"k"),
    "EXPIRETIME k": c.Ttl(b"k", True, True), "PEXPIRETIME k": c.Ttl(b"k", absolute=True),
    "UNLINK a b": c.Delete((b"a", b"b")),
    "QKV.CAS k 1 2": c.Cas(b"k", b"1", b"2"),
}


@pytest.mark.parametrize("line", REFUSED)
def test_arguments_redis_refuses_are_refused_with_its_text(line):
    with pytest.raises(ArgError) as e:
        command_from_args(line.encode().split(), NOW)
    assert str(e.value) == REFUSED[line]


@pytest.mark.parametrize("line", ACCEPTED)
def test_arguments_redis_accepts_build_the_command(line):
    assert command_from_args(line.encode().split(), NOW) == ACCEPTED[line]


def test_every_built_command_encodes():
    for line, command in ACCEPTED.items():
        assert c.decode_command(c.encode_command(command)) == command, line


def test_names_it_does_not_know_are_the_callers():
    assert is_supported(b"incrbyfloat") and not is_supported(b"LPUSH")
    with pytest.raises(KeyError):
        command_from_args([b"LPUSH", b"k", b"v"], NOW)


def test_inside_multi_argument_errors_wait_for_exec_and_arity_errors_do_not():
    """redis-server 7.0.15: MULTI; SET k v EX 0; SET k v NX XX; INCRBYFLOAT k nan;
    DECRBY k -9223372036854775808; MSET a 1 b; SET q 1 all answer QUEUED, then EXEC
    answers each error in its place and OK; but SET k (arity) is refused at once."""
    expected = {
        "SET k v EX 0": c.Refused(invalid("set")), "SET k v NX XX": c.Refused(SYNTAX),
        "INCRBYFLOAT k nan": c.Refused("ERR value is not a valid float"),
        "DECRBY k -9223372036854775808": c.Refused("ERR decrement would overflow"),
        "MSET a 1 b": c.Refused(arity("mset")), "SET q 1": c.Set(b"q", b"1"),
    }
    for line, command in expected.items():
        assert queued_command(line.encode().split(), NOW) == command, line
    with pytest.raises(ArgError, match="wrong number of arguments for 'set'"):
        queued_command([b"SET", b"k"], NOW)
