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
    │   ├── CrossSlotError        keys of one command in several ranges (CROSSSLOT)
    │   ├── MovedError            QKV.REDIRECT ON: the range's leader is elsewhere (MOVED)
    │   └── UnknownKeyspaceError
    └── UnavailableError          the cluster could not serve it (server side)
        ├── ConsistencyError      too few replicas answered for the level
        │                         (HTTP 504 when the deadline passed, else 503)
        ├── SessionError          no replica as new as the session token answered
        ├── RaftTimeout           a strong keyspace's range did not answer in time
        ├── PeerError             local: this node's link to a peer failed it
        │   ├── PeerUnavailable   connect failed, connection lost, peer removed
        │   │   └── PeerRefused   the handshake was refused (cluster, layout,
        │   │                     protocol version)
        │   ├── PeerOverloaded    the peer's bounded send queue is full
        │   ├── FrameTooLarge     a message over the frame limit (nothing sent)
        │   └── StreamError       a chunked stream ended with an error
        └── RemoteError           remote: the peer answered a typed ErrorReply
            ├── RemoteInternalError    (INTERNAL, UNEXPECTED_MESSAGE)
            ├── ClockSkewRefused       (CLOCK_SKEW)
            ├── RemoteStorageError     (STORAGE)
            ├── RemoteUnknownKeyspace  (UNKNOWN_KEYSPACE)
            ├── RangeNotFound          (RANGE_NOT_FOUND: payload its descriptors)
            ├── StaleGeneration        (STALE_GENERATION: payload its descriptors)
            └── NotLeader              (NOT_LEADER: payload the leader id)

Local errors are what this node concluded about a peer; remote errors are what a
peer said, carried on the wire as ``core.messages.ErrorReply(code, message,
payload)`` with a code of :class:`ErrorCode` and turned back into the matching
class by :func:`remote_error`.
"""

from __future__ import annotations

from enum import IntEnum


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


class CrossSlotError(RequestError):
    """One command (or transaction) of a strong keyspace names keys of several
    ranges (Redis Cluster's CROSSSLOT)."""
    resp_prefix = "CROSSSLOT"


class MovedError(RequestError):
    """``MOVED <range-id> <host:port>``: a connection that asked for redirects
    (QKV.REDIRECT ON) sent a command that this node would forward to the range's
    leader, whose RESP address this names (Redis Cluster's MOVED, with the range
    id for the slot)."""
    resp_prefix = "MOVED"

    def __init__(self, range_id: int, address: str) -> None:
        super().__init__(f"{range_id} {address}")
        self.range_id = range_id
        self.address = address


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


class RaftTimeout(UnavailableError):
    """A strong keyspace's range did not apply (or confirm a read) in time: no
    leader, no quorum, or a leader change. A write may still apply later."""
    http_status = 504


class SessionError(UnavailableError):
    """A session read could not reach a replica as new as the session's token."""

    def __init__(self, answered: int, total: int) -> None:
        self.answered, self.total = answered, total
        super().__init__(
            f"session consistency not met: {answered} of {total} replicas answered and "
            f"none holds a version as new as the session token")


# ---- peer errors: local (our link to a peer) and remote (a peer's typed answer) ----


class PeerError(UnavailableError):
    """Local: this node's link to a peer could not carry the request. ``unsent``
    is True when the request certainly never left this node (no connection could
    be made, or the link refused it before sending): sending it elsewhere cannot
    apply it twice."""
    unsent = False


class PeerUnavailable(PeerError):
    """The peer cannot be reached now (connect failed, connection lost, removed)."""


class PeerRefused(PeerUnavailable):
    """The handshake failed: another cluster, layout or protocol version."""


class PeerOverloaded(PeerError):
    """The peer reads slower than we send: its bounded send queue is full, so the
    request fails at once instead of queueing without bound."""


class FrameTooLarge(PeerError):
    """A message that would not fit in one frame (``MAX_FRAME_BYTES``): not sent."""


class StreamError(PeerError):
    """A chunked stream ended with an error, on either side (net/stream.py)."""


class ErrorCode(IntEnum):
    """What a typed ``ErrorReply`` says went wrong at the peer (its wire value)."""
    INTERNAL = 1            # an unexpected failure while serving the request
    UNEXPECTED_MESSAGE = 2  # no handler for that message type
    CLOCK_SKEW = 3          # a version stamped too far ahead of the replica's clock
    STORAGE = 4             # the storage engine failed the write
    UNKNOWN_KEYSPACE = 5    # the replica does not know the keyspace
    RANGE_NOT_FOUND = 6     # the replica holds no such range; payload: descriptors
    STALE_GENERATION = 7    # routed with an older generation; payload: descriptors
    NOT_LEADER = 8          # payload: (leader id,) or () when unknown


class RemoteError(UnavailableError):
    """Remote: a peer answered with a typed error. ``code`` is its ErrorCode (or
    the plain int of a code this version does not know), ``payload`` plain data."""
    code: int = ErrorCode.INTERNAL

    def __init__(self, message: str, payload: tuple = (), code: int | None = None) -> None:
        super().__init__(message)
        self.payload = payload
        if code is not None:
            self.code = code


class RemoteInternalError(RemoteError):
    code = ErrorCode.INTERNAL


class ClockSkewRefused(RemoteError):
    code = ErrorCode.CLOCK_SKEW


class RemoteStorageError(RemoteError):
    code = ErrorCode.STORAGE


class RemoteUnknownKeyspace(RemoteError):
    code = ErrorCode.UNKNOWN_KEYSPACE
    http_status = 404


class RangeNotFound(RemoteError):
    """The replica does not hold the range; ``descriptors`` are the ones it holds
    for that span (plain data), to refresh the sender's range cache with."""
    code = ErrorCode.RANGE_NOT_FOUND

    @property
    def descriptors(self) -> tuple:
        return self.payload


class StaleGeneration(RangeNotFound):
    """The sender routed with an older generation of the range (TiKV's
    EpochNotMatch); ``descriptors``: the replica's newer ones."""
    code = ErrorCode.STALE_GENERATION


class NotLeader(RemoteError):
    """The replica is not the range's leader; ``leader`` is the one it knows of,
    or None."""
    code = ErrorCode.NOT_LEADER

    @property
    def leader(self) -> str | None:
        return self.payload[0] if self.payload else None


_REMOTE_CLASSES = {cls.code: cls for cls in (
    RemoteInternalError, ClockSkewRefused, RemoteStorageError, RemoteUnknownKeyspace,
    RangeNotFound, StaleGeneration, NotLeader)}
_REMOTE_CLASSES[ErrorCode.UNEXPECTED_MESSAGE] = RemoteInternalError


def remote_error(code: int, message: str, payload: tuple = ()) -> RemoteError:
    """The exception for a typed ``ErrorReply``; a code this version does not know
    is a plain RemoteError that keeps it."""
    cls = _REMOTE_CLASSES.get(code, RemoteError)
    known = code in ErrorCode.__members__.values()
    return cls(message, payload, code=ErrorCode(code) if known else code)
