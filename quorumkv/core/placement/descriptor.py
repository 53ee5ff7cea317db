"""Range descriptors: one range of one keyspace, its replicas, and its generation.

A descriptor covers the placement keys ``[start, end)``; ``end == b""`` means "to
the end of the key space". Its ``generation`` grows with every change of this
range (a replica added or removed, a learner promoted, a split or a merge), so of
two descriptors of one range the one with the larger generation is the newer: a
cache keeps it and refuses the other (rangecache.py), and a replica that holds a
newer one than a request was routed with can say so.

Replicas are typed:

* ``voter``: serves reads and writes and counts toward consistency levels;
* ``learner``: receives writes (catching up, or a non-voting copy) but does not
  count and serves no reads;
* ``pending``: a replica being added by a move; it receives live writes while a
  snapshot streams to it and becomes a voter when the move flips ownership.

``replicas`` is the tuple of voters' node ids, a plain field (not computed on each
access) because every request reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .partitioner import HASH, readable_bound, readable_span

VOTER, LEARNER, PENDING = "voter", "learner", "pending"
ROLES = (VOTER, LEARNER, PENDING)


@dataclass(frozen=True, slots=True)
class RangeDescriptor:
    range_id: int
    keyspace: str
    start: bytes
    end: bytes  # b"" = unbounded
    members: tuple[tuple[str, str], ...]  # (node id, role), voters first
    generation: int = 1
    replicas: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        nodes = [node for node, _ in self.members]
        assert len(set(nodes)) == len(nodes), f"a node twice in range {self.range_id}"
        assert all(role in ROLES for _, role in self.members), self.members
        assert self.generation >= 1, "generations start at 1"
        object.__setattr__(self, "replicas", self.with_role(VOTER))

    @classmethod
    def of(cls, range_id: int, keyspace: str, start: bytes, end: bytes, voters,
           generation: int = 1, learners=(), pending=()) -> "RangeDescriptor":
        members = tuple((n, VOTER) for n in voters) + tuple(
            (n, LEARNER) for n in learners) + tuple((n, PENDING) for n in pending)
        return cls(range_id, keyspace, start, end, members, generation)

    def with_role(self, role: str) -> tuple[str, ...]:
        return tuple(node for node, r in self.members if r == role)

    @property
    def learners(self) -> tuple[str, ...]:
        return self.with_role(LEARNER)

    @property
    def pending(self) -> tuple[str, ...]:
        return self.with_role(PENDING)

    @property
    def write_targets(self) -> tuple[str, ...]:
        """Every node a write goes to: voters, learners and pending replicas."""
        return tuple(node for node, _ in self.members)

    def contains(self, pkey: bytes) -> bool:
        return self.start <= pkey and (self.end == b"" or pkey < self.end)

    def same_span(self, other: "RangeDescriptor") -> bool:
        return (self.keyspace, self.start, self.end) == (other.keyspace, other.start,
                                                         other.end)

    def to_plain(self) -> dict:
        """This descriptor as plain data (what a typed redirect carries on the
        wire: ``core.messages.ErrorReply.payload``); ``from_plain`` reads it."""
        return {"range_id": self.range_id, "keyspace": self.keyspace, "start": self.start,
                "end": self.end, "members": tuple((n, r) for n, r in self.members),
                "generation": self.generation}

    @classmethod
    def from_plain(cls, data) -> "RangeDescriptor":
        """The descriptor ``to_plain`` gave; ValueError if ``data`` is not one."""
        try:
            members = tuple((node, role) for node, role in data["members"])
            fields = (data["range_id"], data["keyspace"], data["start"], data["end"],
                      data["generation"])
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"not a range descriptor: {exc!r}") from None
        types = (int, str, bytes, bytes, int)
        if (any(type(f) is not t for f, t in zip(fields, types))
                or any(type(n) is not str or r not in ROLES for n, r in members)
                or len({n for n, _ in members}) != len(members) or fields[4] < 1):
            raise ValueError("not a range descriptor: bad field types or values")
        range_id, keyspace, start, end, generation = fields
        return cls(range_id, keyspace, start, end, members, generation)

    def to_json(self, partitioner: str = HASH) -> dict:
        """Bounds as hex (``start``, ``end``) and readable (``bounds``: ``[l, r)``
        for a range keyspace, hash intervals for a hash one)."""
        return {
            "range_id": self.range_id,
            "keyspace": self.keyspace,
            "start": self.start.hex(),
            "end": self.end.hex(),
            "start_key": readable_bound(self.start, partitioner),
            "end_key": readable_bound(self.end, partitioner),
            "bounds": readable_span(self.start, self.end, partitioner),
            "replicas": list(self.replicas),
            "members": [{"node": n, "role": r} for n, r in self.members],
            "generation": self.generation,
        }
