"""Quorum math: which index a majority has, and whether a majority voted yes.

A group's voters are one majority configuration, or two during a joint-consensus
membership change (C_old,new), where a decision needs a majority of each. These are
the only functions that count quorums; the tracker feeds them what it knows.

``committed_index`` of a majority config is the highest index that a majority of its
voters have acknowledged: sort the acknowledged indexes in descending order and take
the one at position ``n // 2`` (voters with no acknowledgement count as 0). An empty
config commits everything (``INFINITE``) so that, in a joint config, an empty side
never holds the other back; a group never has an empty incoming config.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

INFINITE = 1 << 63


class VoteResult(enum.Enum):
    PENDING = "pending"  # not decided: more votes could go either way
    LOST = "lost"
    WON = "won"


class MajorityConfig(frozenset):
    """A set of voter ids."""

    def committed_index(self, acked: Mapping[str, int]) -> int:
        n = len(self)
        if n == 0:
            return INFINITE
        indexes = sorted((acked.get(v, 0) for v in self), reverse=True)
        return indexes[n // 2]

    def vote_result(self, votes: Mapping[str, bool]) -> VoteResult:
        """``votes`` maps voters that answered to yes/no; others are missing."""
        n = len(self)
        if n == 0:
            return VoteResult.WON  # an empty side of a joint config agrees to anything
        yes = no = 0
        for v in self:
            answer = votes.get(v)
            if answer is True:
                yes += 1
            elif answer is False:
                no += 1
        quorum = n // 2 + 1
        if yes >= quorum:
            return VoteResult.WON
        if n - no < quorum:
            return VoteResult.LOST
        return VoteResult.PENDING


class JointConfig:
    """The incoming and (during a change) the outgoing voter sets."""

    __slots__ = ("incoming", "outgoing")

    def __init__(self, incoming=(), outgoing=()) -> None:
        self.incoming = MajorityConfig(incoming)
        self.outgoing = MajorityConfig(outgoing)

    def __eq__(self, other) -> bool:
        return (isinstance(other, JointConfig) and self.incoming == other.incoming
                and self.outgoing == other.outgoing)

    def __hash__(self) -> int:
        return hash((self.incoming, self.outgoing))

    def __repr__(self) -> str:
        inc = ",".join(sorted(self.incoming))
        if not self.outgoing:
            return f"({inc})"
        return f"({inc})&&({','.join(sorted(self.outgoing))})"

    def is_joint(self) -> bool:
        return bool(self.outgoing)

    def ids(self) -> frozenset[str]:
        return self.incoming | self.outgoing

    def committed_index(self, acked: Mapping[str, int]) -> int:
        return min(self.incoming.committed_index(acked),
                   self.outgoing.committed_index(acked))

    def vote_result(self, votes: Mapping[str, bool]) -> VoteResult:
        first = self.incoming.vote_result(votes)
        second = self.outgoing.vote_result(votes)
        if first == second:
            return first
        if VoteResult.LOST in (first, second):
            return VoteResult.LOST
        return VoteResult.PENDING


class TrackerConfig:
    """A group's membership as the leader's tracker sees it: the voters (joint
    during a change), the learners, the voters that become learners when the joint
    config is left (``learners_next``), and whether the leader leaves it by itself.
    ``confchange.py`` computes new ones; ``progress.py`` holds the current one."""

    __slots__ = ("voters", "learners", "learners_next", "auto_leave")

    def __init__(self, voters: JointConfig | None = None, learners=(), learners_next=(),
                 auto_leave: bool = False) -> None:
        self.voters = voters if voters is not None else JointConfig()
        self.learners = frozenset(learners)
        self.learners_next = frozenset(learners_next)
        self.auto_leave = auto_leave

    def __eq__(self, other) -> bool:
        return (isinstance(other, TrackerConfig) and self.voters == other.voters
                and self.learners == other.learners
                and self.learners_next == other.learners_next
                and self.auto_leave == other.auto_leave)

    def __repr__(self) -> str:
        parts = [f"voters={self.voters!r}"]
        if self.learners:
            parts.append(f"learners=({','.join(sorted(self.learners))})")
        if self.learners_next:
            parts.append(f"learners_next=({','.join(sorted(self.learners_next))})")
        if self.auto_leave:
            parts.append("autoleave")
        return " ".join(parts)
