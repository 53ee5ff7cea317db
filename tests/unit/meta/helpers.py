"""Builders shared by the metadata tests."""

from __future__ import annotations

from quorumkv.core.meta import Bootstrap, KeyspaceSpec, MetaState, NodeInfo


def node(node_id: str, port: int = 0, dc: str = "", rack: str = "") -> NodeInfo:
    port = port or 9000 + int(node_id.lstrip("n") or 0)
    return NodeInfo(node_id, f"127.0.0.1:{port}", f"127.0.0.1:{port + 100}",
                    f"127.0.0.1:{port + 200}", dc, rack)


def bootstrap(count: int = 3, *keyspaces: KeyspaceSpec, ranges: int = 4) -> Bootstrap:
    return Bootstrap(tuple(node(f"n{i}") for i in range(1, count + 1)),
                     (KeyspaceSpec("default", ranges=ranges, db=0),) + keyspaces)


class Log:
    """A MetaState fed with consecutive log indexes."""

    def __init__(self, state: MetaState | None = None) -> None:
        self.state = state or MetaState()
        self.index = self.state.applied_index

    def apply(self, command):
        self.index += 1
        return self.state.apply(self.index, command)

    def ok(self, command):
        result = self.apply(command)
        assert result.ok, result.error
        return result.value

    def refused(self, command) -> str:
        before = self.state.to_plain()
        result = self.apply(command)
        assert not result.ok, f"{command} was applied"
        after = self.state.to_plain()
        assert after.pop("applied_index") == before.pop("applied_index") + 1
        assert after == before, "a refused command changed the state"
        return result.error


def booted(count: int = 3, *keyspaces: KeyspaceSpec, ranges: int = 4) -> Log:
    log = Log()
    log.ok(bootstrap(count, *keyspaces, ranges=ranges))
    return log
