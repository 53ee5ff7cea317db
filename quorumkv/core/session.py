"""Session tokens: read-your-writes and monotonic reads across nodes and levels.

A session token is the newest HLC timestamp a client wrote or read. A read that
carries one must not answer with anything older than what the session itself
wrote: when the replicas asked answer with versions older than the token, the
coordinator asks the remaining replicas too and answers with the newest. (An older
answer is not necessarily stale, the key may simply not have been written since;
asking every replica is how a leaderless store tells the two apart.)

Every connection (RESP) or request (HTTP) tracks its token; the extra reads happen
only once the client has presented a token, since they make a read ask every
replica for any key not written since the session's newest operation.

On the wire a token is the timestamp in hexadecimal.
"""

from __future__ import annotations

from ..errors import SyntaxError_


class Session:
    """A session's token; ``enforced`` once the client presented a token, and only
    then do reads hold back older answers (tracking alone costs nothing)."""

    __slots__ = ("token", "enforced", "receipts")

    def __init__(self, token: int = 0, enforced: bool = False) -> None:
        self.token = token
        self.enforced = enforced
        # consistency receipts of the current command, when the client asked for
        # them (QKV.RECEIPT ON, ?receipt=1): a debugging aid, None when off
        self.receipts: list | None = None

    def present(self, token: int) -> None:
        """The client presented ``token``: reads from now on honour the session."""
        self.observe(token)
        self.enforced = True

    def observe(self, ts: int) -> None:
        if ts > self.token:
            self.token = ts

    def encode(self) -> str:
        return format(self.token, "x")

    @staticmethod
    def parse(text: str | bytes) -> int:
        if isinstance(text, bytes):
            text = text.decode("ascii", "replace")
        try:
            token = int(text.strip(), 16)
        except ValueError:
            raise SyntaxError_(f"invalid session token '{text}'") from None
        if token < 0 or token >= 1 << 64:
            raise SyntaxError_(f"invalid session token '{text}'")
        return token
