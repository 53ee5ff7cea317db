"""The Python client's keyspace: sent on every new connection before the level
(QKV.USE sets the keyspace's default level, which the client's own must then
override), kept by with_keyspace / with_consistency, checked when built."""

import pytest

from quorumkv.client import Client
from quorumkv.client.client import _setup_commands


def test_a_new_connection_uses_the_keyspace_before_it_sets_the_level():
    assert _setup_commands("ONE", "users") == [("QKV.USE", "users"),
                                               ("QKV.CONSISTENCY", "ONE")]
    assert _setup_commands(None, "users") == [("QKV.USE", "users")]
    assert _setup_commands("ALL", None) == [("QKV.CONSISTENCY", "ALL")]
    assert _setup_commands(None, None) == []


def test_derived_clients_keep_the_keyspace_level_and_session():
    with Client("127.0.0.1:1", consistency="one", keyspace="users",
                session_token="1a.2") as kv:
        with kv.with_consistency("ALL") as strict, kv.with_keyspace("logs") as logs:
            assert (strict.keyspace, strict.consistency) == ("users", "ALL")
            assert (logs.keyspace, logs.consistency, logs.session_token) == ("logs", "ONE",
                                                                             "1a.2")
        assert "keyspace=users" in repr(kv)


@pytest.mark.parametrize("bad", ["", 5, b"users"])
def test_a_keyspace_that_is_not_a_name_is_refused(bad):
    with pytest.raises(ValueError, match="keyspace must be a non-empty name"):
        Client("127.0.0.1:1", keyspace=bad)
