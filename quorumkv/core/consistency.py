"""Consistency levels and how many replica answers each needs."""

from __future__ import annotations

import enum

from ..errors import SyntaxError_


class Level(enum.Enum):
    ANY = "ANY"        # writes only: one acknowledgement, a stored hint counts
    ONE = "ONE"
    TWO = "TWO"
    QUORUM = "QUORUM"
    ALL = "ALL"

    def required(self, replicas: int) -> int:
        """Answers needed out of ``replicas`` (capped: TWO of one replica is ALL)."""
        if self is ONE or self is ANY:
            return 1
        if self is TWO:
            return min(2, replicas)
        if self is QUORUM:
            return replicas // 2 + 1
        return replicas

    @staticmethod
    def parse(text: str | bytes) -> "Level":
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        try:
            return Level[text.strip().upper()]
        except KeyError:
            names = ", ".join(level.name for level in Level)
            raise SyntaxError_(f"unknown consistency level '{text}' (expected one of {names})")


# the members as plain module names for the request path: ``Level.ONE`` goes
# through the enum's metaclass (about ten times slower)
ANY, ONE, TWO, QUORUM = Level.ANY, Level.ONE, Level.TWO, Level.QUORUM
