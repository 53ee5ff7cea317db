"""Membership changes: the configuration a conf change leads to, or why it is refused.

A group's membership is a :class:`~.quorum.TrackerConfig` (voters, joint during a
change; learners; learners_next; auto_leave) plus the progress membership the
leader's tracker keeps, here ``id -> is_learner``. A :class:`Changer` takes the
current pair and computes the next one; it never changes its inputs, and a refused
change raises :class:`ConfChangeError` and leaves everything as it was.

Three kinds of step, as in etcd's raft (``confchange/confchange.go``):

- ``simple(changes)``: from a non-joint config, changes that touch at most one
  voter (adding learners and removing non-voters are free). One voter at a time is
  safe because any majority of the old voters overlaps any majority of the new.
- ``enter_joint(auto_leave, changes)``: copy the voters to ``outgoing`` and apply
  the changes to the incoming side: C_old,new, where every decision needs a
  majority of both sides. A voter demoted to learner is still an outgoing voter,
  so it waits in ``learners_next`` until the joint config is left.
- ``leave_joint()``: drop ``outgoing``, turn ``learners_next`` into learners, and
  forget the progress of nodes that are now in no role.

Each change of a step applies in order: ADD_NODE makes a voter (promoting a
learner), ADD_LEARNER makes a learner (demoting a voter), REMOVE_NODE removes the
node from the incoming side (its progress stays while it is an outgoing voter).
A step is refused if it would leave no incoming voter, or if the result breaks an
invariant (:func:`_check`: e.g. a node both voter and learner).

``restore(conf_state)`` rebuilds the config of a snapshot or of the last applied
conf change by replaying it as changes from nothing (through a joint step when the
ConfState is joint), and ``to_conf_state`` is its inverse. ``encode`` / ``decode``
are the explicit msgpack form a ConfChange has in a CONF_CHANGE log entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import msgpack

from .quorum import JointConfig, TrackerConfig
from .types import (ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType,
                    ConfState)


class ConfChangeError(ValueError):
    """A conf change refused, or conf change bytes that cannot be decoded; the
    message names the change and why."""


# ---- describing configs and changes -----------------------------------------------

def describe(config: TrackerConfig) -> str:
    """One line for traces and errors: ``voters=(n1,n2)&&(n1) learners=(n3) ...``."""
    return repr(config)


def describe_conf_state(cs: ConfState) -> str:
    text = f"voters=({_ids(cs.voters)}) learners=({_ids(cs.learners)})"
    if cs.voters_outgoing or cs.learners_next:
        text += (f" voters_outgoing=({_ids(cs.voters_outgoing)})"
                 f" learners_next=({_ids(cs.learners_next)})")
    return text + (" auto_leave" if cs.auto_leave else "")


_CHANGE_TEXT = {ConfChangeType.ADD_NODE: "add {} as voter",
                ConfChangeType.ADD_LEARNER: "add {} as learner",
                ConfChangeType.REMOVE_NODE: "remove {}"}


def describe_change(change: ConfChangeSingle) -> str:
    node = change.node_id
    if type(node) is not str or not node:
        node = repr(node)
    text = _CHANGE_TEXT.get(change.type) if isinstance(change.type, int) else None
    return text.format(node) if text else f"change {node} of type {change.type!r}"


def describe_changes(changes: Iterable[ConfChangeSingle]) -> str:
    return ", ".join(describe_change(c) for c in changes) or "no changes"


def _ids(ids: Iterable[str]) -> str:
    return ",".join(sorted(ids))


# ---- the changer ------------------------------------------------------------------------

class _Draft:
    """A mutable copy of a config and its progress membership, changed step by step
    and frozen into a result only if the whole step is accepted."""

    __slots__ = ("incoming", "outgoing", "learners", "learners_next", "auto_leave",
                 "progress")

    def __init__(self, config: TrackerConfig, progress: Mapping[str, bool]) -> None:
        self.incoming = set(config.voters.incoming)
        self.outgoing = set(config.voters.outgoing)
        self.learners = set(config.learners)
        self.learners_next = set(config.learners_next)
        self.auto_leave = config.auto_leave
        self.progress = dict(progress)

    def apply(self, changes: Sequence[ConfChangeSingle]) -> None:
        for change in changes:
            node = change.node_id
            if type(node) is not str or not node:
                raise ConfChangeError(f"{describe_change(change)}: refused, a conf change "
                                      f"needs a node id (a non-empty string)")
            if change.type == ConfChangeType.ADD_NODE:
                self.make_voter(node)
            elif change.type == ConfChangeType.ADD_LEARNER:
                self.make_learner(node)
            elif change.type == ConfChangeType.REMOVE_NODE:
                self.remove(node)
            else:
                raise ConfChangeError(f"{describe_change(change)}: refused, unknown conf "
                                      f"change type (0 add voter, 1 add learner, 2 remove)")
        if not self.incoming:
            raise ConfChangeError(f"{describe_changes(changes)}: refused, it would remove "
                                  f"all voters (a group needs at least one)")

    def make_voter(self, node: str) -> None:
        self.learners.discard(node)
        self.learners_next.discard(node)
        self.incoming.add(node)
        self.progress[node] = False

    def make_learner(self, node: str) -> None:
        if self.progress.get(node) is True:
            return  # already a learner
        self.incoming.discard(node)
        self.learners.discard(node)
        self.learners_next.discard(node)
        if node in self.outgoing:  # still votes in C_old: a learner once it is left
            self.learners_next.add(node)
            self.progress[node] = False
        else:
            self.learners.add(node)
            self.progress[node] = True

    def remove(self, node: str) -> None:
        if node not in self.progress:
            return  # not a member: nothing to do
        self.incoming.discard(node)
        self.learners.discard(node)
        self.learners_next.discard(node)
        if node not in self.outgoing:  # an outgoing voter keeps its progress
            del self.progress[node]

    def config(self) -> TrackerConfig:
        return TrackerConfig(JointConfig(self.incoming, self.outgoing), self.learners,
                             self.learners_next, self.auto_leave)

    def result(self) -> tuple[TrackerConfig, dict[str, bool]]:
        config = self.config()
        problem = _check(config, self.progress)
        if problem:
            raise ConfChangeError(f"refused: the result {describe(config)} is invalid: "
                                  f"{problem}")
        return config, dict(self.progress)


def _check(config: TrackerConfig, progress: Mapping[str, bool]) -> str:
    """What is wrong with ``config`` and its progress membership ("" if nothing)."""
    incoming, outgoing = config.voters.incoming, config.voters.outgoing
    if not outgoing:
        if config.learners_next:
            return f"learners_next ({_ids(config.learners_next)}) outside a joint config"
        if config.auto_leave:
            return "auto_leave set outside a joint config"
    both = config.learners & config.voters.ids()
    if both:
        return f"{_ids(both)} both voter and learner"
    for node in sorted(config.learners_next):
        if node not in outgoing:
            return f"{node} is in learners_next but not an outgoing voter"
        if node in incoming:
            return f"{node} is in learners_next and an incoming voter"
    members = config.voters.ids() | config.learners
    for node in sorted(members | set(progress)):
        if node not in progress:
            return f"{node} has no progress"
        if node not in members:
            return f"{node} has progress but no role in the config"
        if progress[node] != (node in config.learners):
            return f"{node}'s progress says learner={progress[node]}, the config disagrees"
    return ""


class Changer:
    """Computes the next (config, progress membership) from the current one.

    ``last_index`` is the leader's last log index: the tracker starts the progress
    of a node added here at ``last_index + 1`` (kept for symmetry with etcd).
    """

    __slots__ = ("config", "progress", "last_index")

    def __init__(self, config: TrackerConfig, progress: Mapping[str, bool],
                 last_index: int) -> None:
        self.config = config
        self.progress = progress
        self.last_index = last_index

    def _draft(self) -> _Draft:
        problem = _check(self.config, self.progress)
        if problem:
            raise ConfChangeError(f"the current config {describe(self.config)} is "
                                  f"invalid: {problem}")
        return _Draft(self.config, self.progress)

    def simple(self, changes: Sequence[ConfChangeSingle]
               ) -> tuple[TrackerConfig, dict[str, bool]]:
        """Changes that touch at most one voter, outside a joint config."""
        if self.config.voters.is_joint():
            raise ConfChangeError(f"{describe_changes(changes)}: refused, a simple change "
                                  f"cannot apply in the joint config "
                                  f"{describe(self.config)}: leave it first")
        draft = self._draft()
        draft.apply(changes)
        changed = draft.incoming ^ self.config.voters.incoming
        if len(changed) > 1:
            raise ConfChangeError(f"{describe_changes(changes)}: refused, more than one "
                                  f"voter would change ({_ids(changed)}): use joint "
                                  f"consensus (enter_joint) for that")
        return draft.result()

    def enter_joint(self, auto_leave: bool, changes: Sequence[ConfChangeSingle]
                    ) -> tuple[TrackerConfig, dict[str, bool]]:
        """C_old,new: the voters now are outgoing, ``changes`` make the incoming."""
        if self.config.voters.is_joint():
            raise ConfChangeError(f"{describe_changes(changes)}: refused, the config "
                                  f"{describe(self.config)} is already joint: leave it "
                                  f"first")
        if not self.config.voters.incoming:
            raise ConfChangeError(f"{describe_changes(changes)}: refused, a config with "
                                  f"no voters cannot become joint")
        draft = self._draft()
        draft.outgoing = set(draft.incoming)
        draft.apply(changes)
        draft.auto_leave = bool(auto_leave)
        return draft.result()

    def leave_joint(self) -> tuple[TrackerConfig, dict[str, bool]]:
        """C_new: drop the outgoing voters; learners_next become learners."""
        if not self.config.voters.is_joint():
            raise ConfChangeError(f"leave joint: refused, the config "
                                  f"{describe(self.config)} is not joint")
        draft = self._draft()
        for node in draft.learners_next:
            draft.learners.add(node)
            draft.progress[node] = True
        draft.learners_next.clear()
        for node in draft.outgoing:
            if node not in draft.incoming and node not in draft.learners:
                del draft.progress[node]
        draft.outgoing.clear()
        draft.auto_leave = False
        return draft.result()

    def apply(self, cc: ConfChange) -> tuple[TrackerConfig, dict[str, bool]]:
        """The step a ConfChange stands for (types.ConfChange: empty leaves the joint
        config; joint unless AUTO with one change; AUTO and IMPLICIT leave by
        themselves, EXPLICIT waits for an empty ConfChange)."""
        if cc.leaves_joint():
            return self.leave_joint()
        if cc.uses_joint():
            return self.enter_joint(cc.transition != ConfChangeTransition.EXPLICIT,
                                    cc.changes)
        return self.simple(cc.changes)


# ---- conf states ------------------------------------------------------------------------

def _conf_state_problem(cs: ConfState) -> str:
    voters = cs.voters | cs.voters_outgoing
    if not cs.voters and (voters or cs.learners):
        return "it has members but no voters"
    both = voters & cs.learners
    if both:
        return f"{_ids(both)} both voter and learner"
    stray = cs.learners_next - cs.voters_outgoing
    if stray:
        return f"learners_next {_ids(stray)} not outgoing voters"
    twice = cs.learners_next & cs.voters
    if twice:
        return f"{_ids(twice)} both in learners_next and an incoming voter"
    if cs.auto_leave and not cs.voters_outgoing:
        return "auto_leave set outside a joint config"
    return ""


def _single(kind: ConfChangeType, nodes: Iterable[str]) -> list[ConfChangeSingle]:
    return [ConfChangeSingle(kind, node) for node in sorted(nodes)]


def restore(conf_state: ConfState) -> tuple[TrackerConfig, dict[str, bool]]:
    """The config and progress membership ``conf_state`` describes, built by
    replaying it as changes: a joint (C_old,new) first establishes C_old one voter
    at a time, then enters the joint config that removes C_old and adds C_new."""
    problem = _conf_state_problem(conf_state)
    if problem:
        raise ConfChangeError(f"cannot restore conf state "
                              f"{describe_conf_state(conf_state)}: {problem}")
    config, progress = TrackerConfig(), {}
    cs = conf_state
    if not cs.voters_outgoing:
        for change in (_single(ConfChangeType.ADD_NODE, cs.voters)
                       + _single(ConfChangeType.ADD_LEARNER, cs.learners)):
            config, progress = Changer(config, progress, 0).simple((change,))
        return config, progress
    for change in _single(ConfChangeType.ADD_NODE, cs.voters_outgoing):
        config, progress = Changer(config, progress, 0).simple((change,))
    incoming = (_single(ConfChangeType.REMOVE_NODE, cs.voters_outgoing)
                + _single(ConfChangeType.ADD_NODE, cs.voters)
                + _single(ConfChangeType.ADD_LEARNER, cs.learners)
                + _single(ConfChangeType.ADD_LEARNER, cs.learners_next))
    return Changer(config, progress, 0).enter_joint(cs.auto_leave, incoming)


def to_conf_state(config: TrackerConfig) -> ConfState:
    return ConfState(voters=frozenset(config.voters.incoming),
                     learners=frozenset(config.learners),
                     voters_outgoing=frozenset(config.voters.outgoing),
                     learners_next=frozenset(config.learners_next),
                     auto_leave=config.auto_leave)


# ---- the log entry encoding ---------------------------------------------------------------

FORMAT = 1  # the first element of an encoded ConfChange; change it with the layout

_packb = msgpack.Packer(use_bin_type=True).pack


def encode(cc: ConfChange) -> bytes:
    """``[FORMAT, transition, [[type, node_id], ...], context]``."""
    return _packb([FORMAT, int(cc.transition),
                   [[int(c.type), c.node_id] for c in cc.changes], cc.context])


def _decode_single(item) -> ConfChangeSingle:
    if type(item) is not list or len(item) != 2:
        raise TypeError("a change is not [type, node_id]")
    kind, node = item
    if type(kind) is not int or type(node) is not str:
        raise TypeError("a change is not [int, str]")
    return ConfChangeSingle(ConfChangeType(kind), node)


def decode(data: bytes) -> ConfChange:
    """The ConfChange ``encode`` gave; ConfChangeError if ``data`` is not one."""
    try:
        values = msgpack.unpackb(data, raw=False, use_list=True)
        if type(values) is not list or len(values) != 4:
            raise TypeError("not an array of 4")
        fmt, transition, changes, context = values
        if type(fmt) is not int or fmt != FORMAT:
            raise ValueError(f"unknown format {fmt!r}")
        if type(transition) is not int or type(changes) is not list \
                or type(context) is not bytes:
            raise TypeError("fields are not [int, int, array, bytes]")
        return ConfChange(tuple(_decode_single(c) for c in changes),
                          ConfChangeTransition(transition), context)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ConfChangeError(f"bad conf change encoding: {exc}") from exc
