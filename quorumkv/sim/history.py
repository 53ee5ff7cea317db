"""A history of client operations, as a test client records it.

Each operation is invoked by one process (a client) on one key, then completes
in one of three ways (Jepsen's vocabulary):

- ``ok``: it took effect and its output is known. A compare-and-set the system
  refused because the value differed is an ``ok`` with output ``False``.
- ``fail``: it certainly did not take effect (refused before it was sent, or a
  refusal that says nothing was applied).
- ``info``: indeterminate (a timeout, a lost connection). It may have taken
  effect at any point after its invoke, until the end of time, or never; its
  output is unknown. An operation never completed counts as ``info``.

Times are any monotone numbers the caller passes in (virtual time in the
simulation, ``time.monotonic()`` in the real-process tests): nothing here reads a
clock. A process has at most one operation outstanding. After an ``info`` it may
go on: its next operation is simply concurrent with the indeterminate one.

    h = History()
    op = h.invoke("c1", b"k", "write", b"v", now)
    h.ok(op, None, now)          # or h.fail(op, now) / h.info(op, now)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Hashable, Iterable

OK, FAIL, INFO = "ok", "fail", "info"
FUNCTIONS = ("read", "write", "delete", "cas", "incr")


class _Unknown:
    """The output of an indeterminate operation."""

    def __repr__(self) -> str:
        return "?"


UNKNOWN = _Unknown()


@dataclass(eq=False)
class Op:
    """One operation; ``status`` is None while it is outstanding."""

    id: int
    process: Hashable
    key: Any
    f: str
    input: Any
    invoke: float
    complete: float | None = None
    status: str | None = None
    output: Any = UNKNOWN

    @property
    def determinate(self) -> bool:
        return self.status in (OK, FAIL)

    @property
    def end(self) -> float:
        """The end of its interval: its completion if ok or fail; else +infinity
        (it may land at any time)."""
        return self.complete if self.determinate else math.inf

    def __str__(self) -> str:
        args = "" if self.input is None else " " + _show(self.input)
        status = self.status or INFO
        shown = "ok" if self.f in ("write", "delete") else _show(self.output)
        result = {OK: f" -> {shown}", FAIL: " -> fail",
                  INFO: " -> info (indeterminate)"}[status]
        when = f"[{_time(self.invoke)}, {_time(self.complete)}]"
        if status == INFO:
            gave_up = "never completed" if self.complete is None else \
                f"gave up at {_time(self.complete)}"
            when = f"[{_time(self.invoke)}, ...] ({gave_up})"
        return f"{self.process} {self.f}{args}{result}  {when}"


class History:
    """The recorder: operations in invoke order, one outstanding per process.
    ``functions`` are the ones ``invoke`` accepts (the register's by default;
    None: any, for another model)."""

    def __init__(self, functions: Iterable[str] | None = FUNCTIONS) -> None:
        self.ops: list[Op] = []
        self._outstanding: dict[Hashable, Op] = {}
        self.functions = None if functions is None else frozenset(functions)

    def invoke(self, process: Hashable, key: Any, f: str, value: Any, now: float) -> Op:
        assert self.functions is None or f in self.functions, f"unknown function {f!r}"
        assert process not in self._outstanding, \
            f"process {process} invoked {f} while {self._outstanding[process]} is outstanding"
        op = Op(len(self.ops), process, key, f, value, now)
        self.ops.append(op)
        self._outstanding[process] = op
        return op

    def ok(self, op: Op, output: Any, now: float) -> None:
        self._complete(op, OK, now, output)

    def fail(self, op: Op, now: float) -> None:
        self._complete(op, FAIL, now, UNKNOWN)

    def info(self, op: Op, now: float) -> None:
        self._complete(op, INFO, now, UNKNOWN)

    def _complete(self, op: Op, status: str, now: float, output: Any) -> None:
        assert self._outstanding.get(op.process) is op, f"{op} is not outstanding"
        assert now >= op.invoke, f"{op} completes at {now}, before its invoke"
        del self._outstanding[op.process]
        op.complete, op.status, op.output = now, status, output

    def __iter__(self):
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return repr(value)
    if isinstance(value, tuple):
        return " ".join(_show(v) for v in value)
    return "nil" if value is None else str(value)


def _time(t: float) -> str:
    return f"{t:.4f}" if isinstance(t, float) else str(t)
