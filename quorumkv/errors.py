"""Errors QuorumKV reports to its users.

Every error a client can see derives from :class:`QuorumKVError` and carries what
the edges need: the RESP error prefix and the HTTP status. Lower-layer exceptions
(sockets, RocksDB, msgpack) are mapped to these at the boundary, once.

    QuorumKVError
    ├── ConfigError               bad configuration, found before anything starts
    ├── RequestError              the request itself is wrong (client's fault)
    │   ├── ArityError            wrong number of arguments (as Redis words it)
    │   ├── UnknownCommandError   unknown command (as Redis words it)
    │   ├── SyntaxError_          bad option combination, not an integer, ...
    │   ├── LimitError            key or value over the configured limit
    │   ├── UnsupportedError      needs a capability this keyspace lacks
    │   ├── ExecAbortError        EXEC of a refused transaction (EXECABORT)
    │   └── UnknownKeyspaceError
    └── UnavailableError          the cluster could not serve it (server side)
        └── ConsistencyError      too few replicas answered for the level
                                  (HTTP 504 when the deadline passed, else 503)
"""

from __future__ import annotations


class QuorumKVError(Exception):
    resp_prefix = "ERR"
    http_status = 500

    def resp_message(self) -> str:
        return f"{self.resp_prefix} {self}"


class ConfigError(QuorumKVError):
    """Bad configuration: reported before the node starts anything."""


class RequestError(QuorumKVError):
    http_status = 400


class ArityError(RequestError):
    def __init__(self, command: str) -> None:
        super().__init__(f"wrong number of arguments for '{command.lower()}' command")


class UnknownCommandError(RequestError):
    def __init__(self, command: str, args: list[bytes]) -> None:
        shown = " ".join(f"'{a.decode('utf-8', 'replace')[:128]}'" for a in args[:20])
        super().__init__(
            f"unknown command '{command[:128]}', with args beginning with: {shown}"
            + (" " if shown else "")
        )


class SyntaxError_(RequestError):
    pass


class LimitError(RequestError):
    http_status = 413


class UnsupportedError(RequestError):
    http_status = 501


class ExecAbortError(RequestError):
    """EXEC of a transaction that was refused (Redis's EXECABORT)."""
    resp_prefix = "EXECABORT"


class UnknownKeyspaceError(RequestError):
    http_status = 404


class UnavailableError(QuorumKVError):
    http_status = 503


class ConsistencyError(UnavailableError):
    def __init__(self, level: str, answered: int, required: int, total: int,
                 timeout_ms: int | None = None) -> None:
        self.level, self.answered, self.required, self.total = level, answered, required, total
        waited = f", timed out after {timeout_ms} ms" if timeout_ms is not None else ""
        if timeout_ms is not None:
            self.http_status = 504
        super().__init__(
            f"consistency {level} not met: {answered} of {total} replicas answered "
            f"({required} required{waited})"
        )


class SessionError(UnavailableError):
    """A session read could not reach a replica as new as the session's token."""

    def __init__(self, answered: int, total: int) -> None:
        self.answered, self.total = answered, total
        super().__init__(
            f"session consistency not met: {answered} of {total} replicas answered and "
            f"none holds a version as new as the session token")
