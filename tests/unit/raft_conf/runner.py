"""A data-driven runner for membership-change scripts (core/raft/confchange.py).

The file format is the one of ``tests/unit/scenarios``: a command line, a ``----``
line, the output (up to a blank line); ``#`` lines between blocks are comments.
The harness holds one group's config and progress membership and changes them as
the commands say; a refused change prints ``error: ...`` and changes nothing.

Commands (a change is ``add:ID`` (voter), ``learner:ID``, ``remove:ID``, or
``typeN:ID`` for a change of raw type N):

    restore [voters=n1,n2] [learners=..] [outgoing=..] [learners_next=..] [autoleave=true]
    simple CHANGE...                     Changer.simple
    enter-joint [autoleave=true] CHANGE...
    leave-joint
    apply [transition=auto|implicit|explicit] CHANGE...
                                         Changer.apply of a ConfChange that went
                                         through encode / decode first
    show                                 the ConfState of the current config

After a step that is accepted, the output is the config (``describe``) and the
progress membership; the harness also checks that restoring the step's ConfState
gives the same config and progress, and prints a ``MISMATCH`` line if not.
"""

from __future__ import annotations

from pathlib import Path

from quorumkv.core.raft import confchange as cc
from quorumkv.core.raft.quorum import TrackerConfig
from quorumkv.core.raft.types import (ConfChange, ConfChangeSingle, ConfChangeTransition,
                                      ConfChangeType, ConfState)

from .. import datadriven
from ..scenarios.runner import args_of, truthy

KINDS = {"add": ConfChangeType.ADD_NODE, "learner": ConfChangeType.ADD_LEARNER,
         "remove": ConfChangeType.REMOVE_NODE}


def run_file(path: Path) -> tuple[str, str]:
    """The file's text and what it would be with the current code's output."""
    return datadriven.run_file(path, Harness())


def change_of(word: str) -> ConfChangeSingle:
    kind, sep, node = word.partition(":")
    if not sep:
        raise ValueError(f"a change is KIND:ID, not {word!r}")
    if kind.startswith("type") and kind[4:].isdigit():
        return ConfChangeSingle(int(kind[4:]), node)
    return ConfChangeSingle(KINDS[kind], node)


def ids_of(text: str | None) -> frozenset[str]:
    return frozenset(text.split(",")) if text else frozenset()


def show_progress(progress) -> str:
    return "progress " + (" ".join(f"{node}={'learner' if learner else 'voter'}"
                                   for node, learner in sorted(progress.items())) or "(none)")


class Harness:
    def __init__(self) -> None:
        self.config = TrackerConfig()
        self.progress: dict[str, bool] = {}

    def run(self, command: str) -> list[str]:
        name, *words = command.split()
        positional, named = args_of(words)
        handler = getattr(self, "do_" + name.replace("-", "_"), None)
        if handler is None:
            return [f"error: unknown command {name!r}"]
        try:
            step = handler(positional, named)
        except cc.ConfChangeError as exc:
            return [f"error: {exc}"]
        if step is None:
            return [cc.describe_conf_state(cc.to_conf_state(self.config))]
        self.config, self.progress = step
        return [cc.describe(self.config), show_progress(self.progress), *self._mismatch()]

    def _mismatch(self) -> list[str]:
        """A line if the current config does not survive to_conf_state + restore."""
        again = cc.restore(cc.to_conf_state(self.config))
        if again == (self.config, self.progress):
            return []
        return [f"MISMATCH: restored as {cc.describe(again[0])} {show_progress(again[1])}"]

    def _changer(self) -> cc.Changer:
        return cc.Changer(self.config, self.progress, 10)

    def do_restore(self, _, named):
        return cc.restore(ConfState(ids_of(named.get("voters")), ids_of(named.get("learners")),
                                    ids_of(named.get("outgoing")),
                                    ids_of(named.get("learners_next")),
                                    truthy(named.get("autoleave"))))

    def do_simple(self, positional, _):
        return self._changer().simple([change_of(w) for w in positional])

    def do_enter_joint(self, positional, named):
        return self._changer().enter_joint(truthy(named.get("autoleave")),
                                           [change_of(w) for w in positional])

    def do_leave_joint(self, _, __):
        return self._changer().leave_joint()

    def do_apply(self, positional, named):
        transition = ConfChangeTransition[named.get("transition", "auto").upper()]
        change = ConfChange(tuple(change_of(w) for w in positional), transition)
        return self._changer().apply(cc.decode(cc.encode(change)))

    def do_show(self, _, __):
        return None
