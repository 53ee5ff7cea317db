"""The command registry's shared parsing and key positions."""

import pytest

from quorumkv.api.resp import COMMANDS
from quorumkv.api.resp.registry import to_int
from quorumkv.errors import SyntaxError_


@pytest.mark.parametrize("raw, value", [
    (b"0", 0), (b"-1", -1), (b"42", 42),
    (b"9223372036854775807", 2**63 - 1), (b"-9223372036854775808", -2**63),
])
def test_to_int_takes_what_redis_takes(raw, value):
    assert to_int(raw) == value


@pytest.mark.parametrize("raw", [
    b"", b"+1", b" 1", b"1 ", b"01", b"-0", b"1_0", b"1.0", b"0x10", b"-",
    b"9223372036854775808", b"-9223372036854775809", "\u0661".encode(),
])
def test_to_int_refuses_what_redis_refuses(raw):
    with pytest.raises(SyntaxError_, match="value is not an integer or out of range"):
        to_int(raw)


def test_key_positions_follow_the_spec():
    assert COMMANDS["GET"].key_args([b"GET", b"k"]) == [b"k"]
    assert COMMANDS["MSET"].key_args([b"MSET", b"a", b"1", b"b", b"2"]) == [b"a", b"b"]
    assert COMMANDS["DEL"].key_args([b"DEL", b"a", b"b", b"c"]) == [b"a", b"b", b"c"]
    assert COMMANDS["PING"].key_args([b"PING"]) == []


def test_keyless_commands_that_change_state_run_alone():
    for name in ("SELECT", "HELLO", "CLIENT", "QKV.CONSISTENCY", "KEYS", "SCAN", "MULTI"):
        assert COMMANDS[name].alone, name
    for name in ("GET", "SET", "MGET", "PING", "ECHO"):
        assert not COMMANDS[name].alone, name
