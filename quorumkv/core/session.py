"""Session tokens: read-your-writes and monotonic reads across nodes and levels.

A session token carries the newest HLC timestamp the client wrote or read, and the
fewest replicas known to hold any of those versions (``acks``: for a write, the
replicas that acknowledged it; for a read, those that answered with the newest
version). A read that carries a token must not answer with anything older than
what the session wrote or read. It is safe to answer once either

* a version at least as new as the token was seen, or
* enough replicas answered that every set of ``acks`` replicas overlaps them
  (``answered > replicas - acks``): whatever the session wrote or read of this key
  is then among the answers, and an older newest means the key has not changed
  in the session since.

Otherwise the coordinator asks the remaining replicas too, and fails the read
(``SessionError``) if even then neither holds. A session of QUORUM writes and
QUORUM reads therefore costs nothing extra; one that wrote at ONE makes its reads
ask every replica.

Every connection (RESP) or request (HTTP) tracks its token; the rule applies once
the client presents one (``QKV.SESSION <token>``, ``X-QKV-Session``).

On the wire a token is ``<timestamp hex>.<acks>`` (just ``<hex>``: acks unknown,
taken as 1, the most cautious).
"""

from __future__ import annotations

from ..errors import SyntaxError_


class Session:
    """A session's token; ``enforced`` once the client presented a token, and only
    then do reads hold back older answers (tracking alone costs nothing)."""

    __slots__ = ("token", "acks", "enforced", "receipts")

    def __init__(self, token: int = 0, acks: int | None = None,
                 enforced: bool = False) -> None:
        self.token = token
        self.acks = acks  # None: nothing recorded yet
        self.enforced = enforced
        # consistency receipts of the current command, when the client asked for
        # them (QKV.RECEIPT ON, ?receipt=1): a debugging aid, None when off
        self.receipts: list | None = None

    def observe(self, ts: int, acks: int) -> None:
        """The session wrote or read version ``ts``, held by ``acks`` replicas."""
        if ts > self.token:
            self.token = ts
        if ts > 0:
            self.acks = acks if self.acks is None else min(self.acks, acks)

    def present(self, text: str | bytes) -> None:
        """The client presented a token: reads from now on honour the session."""
        token, acks = Session.parse(text)
        self.observe(token, acks)
        self.enforced = True

    def satisfied(self, newest_ts: int, answered: int, replicas: int) -> bool:
        """May a read that saw ``newest_ts`` from ``answered`` of ``replicas``
        answer this session?"""
        if newest_ts >= self.token or self.acks is None:
            return True
        return answered > replicas - self.acks

    def encode(self) -> str:
        return format(self.token, "x") + ("" if self.acks is None else f".{self.acks}")

    @staticmethod
    def parse(text: str | bytes) -> tuple[int, int]:
        if isinstance(text, bytes):
            text = text.decode("ascii", "replace")
        head, _, acks_text = text.strip().partition(".")
        try:
            token = int(head, 16)
            acks = int(acks_text) if acks_text else 1
        except ValueError:
            raise SyntaxError_(f"invalid session token '{text}'") from None
        if not 0 <= token < 1 << 64 or not 0 <= acks <= 64 or head.startswith(("-", "+")):
            raise SyntaxError_(f"invalid session token '{text}'")
        return token, acks
