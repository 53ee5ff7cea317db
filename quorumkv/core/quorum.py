"""Quorum bookkeeping for one coordinated request.

The coordinator sends a request to every replica of the key's range and feeds each
answer (or failure) to one of these trackers. A tracker decides exactly once:

* success as soon as ``required`` replicas have answered;
* failure once too few replicas are left to ever reach ``required`` and every
  replica has answered or failed (so the error can say how many answered), or
  when the driver reports the deadline passed.

Answers arriving after the decision are still accepted: a read tracker keeps
learning which replicas are stale so that the driver can repair them.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import SyntaxError_
from .consistency import ANY, Level
from .version import Version, merge, new_tuple


class Decision(NamedTuple):
    ok: bool
    level: Level
    answered: int
    required: int
    total: int
    timed_out: bool = False


class Quorum:
    """Counts acknowledgements (writes, scans); :class:`ReadQuorum` adds versions."""

    def __init__(self, level: Level, replicas: tuple[str, ...],
                 hints_count: bool = False) -> None:
        self.level = level
        self.replicas = replicas
        # a hint stored for a down replica counts as its acknowledgement: always at
        # ANY, at other levels only if the keyspace says so (off by default)
        self.hints_count = hints_count or level is ANY
        self.required = level.required(len(replicas))
        self.answered: set[str] = set()
        self.failed: set[str] = set()
        self.decision: Decision | None = None

    def _decide(self, ok: bool, timed_out: bool = False) -> Decision:
        self.decision = new_tuple(Decision, (ok, self.level, len(self.answered),
                                             self.required, len(self.replicas), timed_out))
        return self.decision

    def _check(self) -> Decision | None:
        if self.decision is not None:
            return None
        if len(self.answered) >= self.required:
            return self._decide(True)
        if len(self.replicas) - len(self.failed) < self.required and self.complete:
            return self._decide(False)
        return None

    def on_failure(self, node: str) -> Decision | None:
        assert node in self.replicas, f"{node} is not a replica"
        if node not in self.answered:
            self.failed.add(node)
        return self._check()

    def on_timeout(self) -> Decision | None:
        """The deadline passed: decide failure unless already decided."""
        if self.decision is not None:
            return None
        return self._decide(False, timed_out=True)

    def on_hint(self, node: str) -> Decision | None:
        """A hint for ``node`` is durable here: an ack if hints count, else it failed."""
        return self.on_ack(node) if self.hints_count else self.on_failure(node)

    def on_ack(self, node: str) -> Decision | None:
        assert node in self.replicas, f"{node} is not a replica"
        self.answered.add(node)
        self.failed.discard(node)
        return self._check()

    @property
    def complete(self) -> bool:
        """Every replica has answered or failed: nothing more will arrive."""
        return len(self.answered) + len(self.failed) == len(self.replicas)


WriteQuorum = Quorum  # a write needs nothing beyond acknowledgements


def identity(version: Version | None):
    """What identifies a write: timestamp, coordinator, tombstone, expiry (the HLC
    timestamp is unique per coordinator, so equal identities mean equal values)."""
    return None if version is None else version[:4]


class ReadQuorum(Quorum):
    """Also resolves the newest version and names replicas to repair.

    Answers are full versions or digests (a version without its value). ``newest``
    is the newest full version; when a digest names a newer write than any full
    answer, ``needs_data`` is true and the driver fetches it from ``data_holders``.
    """

    def __init__(self, level: Level, replicas: tuple[str, ...]) -> None:
        if level is ANY:
            raise SyntaxError_("consistency ANY applies to writes only")
        super().__init__(level, replicas)
        self.newest: Version | None = None
        self.newest_id = None  # identity of the newest write named by any answer
        self._newest_full_id = None  # identity of ``newest``
        self._seen: dict[str, Version | None] = {}
        self._ids: dict[str, tuple | None] = {}  # each answer's identity
        self._repaired: dict[str, Version] = {}

    def on_answer(self, node: str, version: Version | None,
                  digest: bool = False) -> Decision | None:
        assert node in self.replicas, f"{node} is not a replica"
        self.answered.add(node)
        self.failed.discard(node)
        self._seen[node] = version
        vid = self._ids[node] = identity(version)
        if not digest:
            newest = merge(self.newest, version)
            if newest is not self.newest:
                self.newest, self._newest_full_id = newest, vid
        if vid is not None and (self.newest_id is None or vid > self.newest_id):
            self.newest_id = vid
        return self._check()

    @property
    def needs_data(self) -> bool:
        return self.newest_id is not None and self._newest_full_id != self.newest_id

    @property
    def data_holders(self) -> list[str]:
        """Replicas whose answer names the newest write (data or digest)."""
        newest_id = self.newest_id
        return [n for n, i in self._ids.items() if i is not None and i == newest_id]

    def holders_of_newest(self) -> list[str]:
        """Replicas that answered with the newest version itself."""
        newest_id = self._newest_full_id
        return [n for n, i in self._ids.items() if i == newest_id]

    @property
    def seen(self) -> dict:
        """Each answering replica's version (None: it had none)."""
        return dict(self._seen)

    @property
    def repaired(self) -> list[str]:
        """Replicas sent the newest version so far."""
        return sorted(self._repaired)

    def take_repairs(self) -> list[str]:
        """Replicas that answered with something older than the newest version seen,
        each named once. Call after the decision and again after late answers."""
        if self.newest is None or self.needs_data:
            return []
        newest_id, newest = self._newest_full_id, self.newest
        stale = [node for node, i in self._ids.items()
                 if i != newest_id and self._repaired.get(node) != newest]
        for node in stale:
            self._repaired[node] = self.newest
        return stale
