"""Is a history of operations linearizable? Shared by the simulation and the
fault tests.

How it works (Wing & Gong, with Lowe's memoization, as in Porcupine):

1. The history (``history.py``) is split per key: operations on different keys are
   independent, and a history is linearizable if and only if each key's is
   (P-compositionality). ``Model.partition`` says what a partition is.
2. Each operation becomes a call event at its invoke and a return event at its
   completion. A failed operation never took effect: it is left out. An
   indeterminate one (info, or never completed) returns at +infinity: it may take
   effect at any point after its invoke, or never (at the very end, after every
   observation). An indeterminate operation that changes nothing (a read) is left
   out. At equal times calls sort before returns: two operations that touch in
   time count as concurrent, which never invents a violation.
3. A depth-first search walks the doubly linked list of events. At a call it tries
   to linearize that operation now: the model steps from the current state with
   the operation's input and checks its output; if it fits, the operation is lifted
   out of the list (call and return) and the search starts again from the head.
   Reaching a return means that operation should already have been linearized:
   undo the last choice and try the next candidate. The list empties: linearizable.
   Nothing left to undo: not linearizable.
4. A cache of (set of linearized operations as a bitset int, model state) prunes
   every configuration already explored. And a candidate that changes nothing
   wherever it fits (a read, a CAS that answered False) is placed as soon as it
   fits, with no alternative tried (why that is safe: ``_check_key``).
5. Indeterminate operations that are alike (same function, same input: say ten
   INCR 1 that timed out) are interchangeable, so they are linearized in the order
   of their invokes only: one is tried once every alike one invoked before it is
   placed. Which k of n landed then costs n + 1 configurations instead of 2^n
   (why that is safe: ``_alike_before``).

The search is exponential in the worst case. A linearizable history is usually
quick (2,000 operations of 10 clients on one key: about 0.1 s). Proving a
violation means exhausting every linearization of what precedes it, and each
indeterminate operation multiplies those (it may or may not have landed at each
point): 2,000 determinate operations with a bad read in the middle take about
200,000 steps (0.1 s); 300 with 2 % indeterminate about as many; 600 with 5 %
indeterminate can exhaust the default budget. The search counts its steps (one
per event visited) against a budget shared by every key: when it runs out the
verdict is "unknown", never a hang and never a guess. Nothing here reads a
clock: the budget is in steps, not seconds.

The register model (``Register``): a key holds None (absent) or a value. Values
compare as Redis compares them: a string that is a canonical 64-bit integer equals
that integer (``b"5"``, ``"5"`` and ``5`` are one value), other strings as bytes.

=========  ===================  =======================================
function   input                output
=========  ===================  =======================================
read       None                 the value, None when absent
write      value                anything (not checked)
delete     None                 anything (not checked); the key becomes absent
cas        (expected, new)      True if the value was ``expected`` (None: absent),
                                and then it becomes ``new``; else False
incr       n                    the new integer (absent counts as 0); ``ERROR``
                                if the value is not an integer or the result
                                overflows 64 bits, as Redis answers, and then
                                the value is unchanged
=========  ===================  =======================================

Two simpler checks for the fault tests sit at the end: ``check_final_values`` (the
value of each key read after heal is one a linearization could leave: no
acknowledged write lost) and ``check_incr_totals``; and ``Recorder``, which records
an asyncio client's calls by what they return or raise.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Hashable, Iterable

import redis.exceptions

from .history import FAIL, OK, UNKNOWN, History, Op

__all__ = ["ERROR", "LINEARIZABLE", "NOT_LINEARIZABLE", "UNKNOWN_VERDICT", "History",
           "KeyResult", "Model", "Op", "Recorder", "Register", "Result", "check",
           "check_final_values", "check_incr_totals", "redis_value"]

LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN_VERDICT = "ok", "not linearizable", "unknown"
ERROR = "error"                 # an incr's output when the system answered an error
DEFAULT_MAX_STEPS = 2_000_000   # one to two seconds of pure Python
PREFIX_LINES = 10               # how much of the longest prefix an explanation shows


# --- models -----------------------------------------------------------------------

class Model:
    """A sequential specification. States are values the model alone interprets;
    ``step`` must not mutate the state it is given."""

    def init(self) -> Any:
        raise NotImplementedError

    def step(self, state: Any, f: str, value: Any, output: Any) -> tuple[bool, Any]:
        """(whether ``output`` is what f(value) answers in ``state``, the state
        after it). ``output`` is ``UNKNOWN`` for an indeterminate operation: then
        any answer fits, and it must fit (it may land last, after everything)."""
        raise NotImplementedError

    def equal(self, a: Any, b: Any) -> bool:
        return a == b

    def describe(self, state: Any) -> str:
        return repr(state)

    def partition(self, op: Op) -> Hashable:
        """Operations in different partitions never affect each other."""
        return op.key

    def prepare(self, f: str, value: Any, output: Any) -> tuple[Any, Any]:
        """The input and output in the form ``step`` compares (once per op)."""
        return value, output

    def changes_nothing(self, f: str, value: Any, output: Any) -> bool:
        """Whether this operation leaves the state as it was in every state where
        it fits (``value`` and ``output`` as ``prepare`` returned them). The
        search then places it as soon as it fits, with no alternative to try, and
        leaves it out when indeterminate. Saying False is always safe."""
        return False


_INT = re.compile(rb"0|-?[1-9][0-9]*")
_INT64 = (-2**63, 2**63 - 1)


def redis_value(value: Any) -> Any:
    """The register's canonical form: an int for a string Redis reads as a 64-bit
    integer, bytes for any other string, anything else as it is."""
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes) and _INT.fullmatch(value):
        n = int(value)
        if _INT64[0] <= n <= _INT64[1]:
            return n
    return value


class Register(Model):
    """One register per key (see the module docstring for the table)."""

    def init(self) -> Any:
        return None

    def prepare(self, f, value, output):
        if f == "write":
            value = redis_value(value)
        elif f == "cas":
            value = tuple(redis_value(v) for v in value)
        if f == "read" and output is not UNKNOWN:
            output = redis_value(output)
        return value, output

    def changes_nothing(self, f, value, output) -> bool:
        # a CAS that answered False, an INCR that answered an error: no effect
        return f == "read" or (output is not UNKNOWN and (
            (f == "cas" and output == False) or (f == "incr" and output == ERROR)))  # noqa: E712

    def step(self, state, f, value, output):
        if f == "read":
            return output is UNKNOWN or output == state, state
        if f == "write":
            return True, value
        if f == "delete":
            return True, None
        if f == "cas":
            hit = state == value[0]
            return output is UNKNOWN or output == hit, value[1] if hit else state
        if f == "incr":
            return self._incr(state, value, output)
        raise ValueError(f"the register has no function {f!r}")

    @staticmethod
    def _incr(state, n, output):
        base = 0 if state is None else state
        if isinstance(base, int) and _INT64[0] <= base + n <= _INT64[1]:
            return output is UNKNOWN or output == base + n, base + n
        return output is UNKNOWN or output == ERROR, state

    def describe(self, state) -> str:
        if state is None:
            return "absent"
        return state.decode(errors="backslashreplace") if isinstance(state, bytes) else str(state)


# --- results ----------------------------------------------------------------------

WHY = {False: "impossible in this state", True: "allowed here, but nothing fits after it"}


@dataclass
class KeyResult:
    """One partition's verdict; for a failure (or an unknown), what the search
    got furthest with."""

    key: Any
    verdict: str
    ops: list[Op]
    steps: int
    prefix: list[Op] = field(default_factory=list)     # longest linearizable prefix
    state: str = ""                                     # the model's state after it
    stuck: list[tuple[Op, bool]] = field(default_factory=list)  # (op, model allowed it)

    def explain(self) -> str:
        indeterminate = sum(1 for op in self.ops if not op.determinate)
        lines = [f"key {_key(self.key)}: {self.verdict} ({len(self.ops)} operations, "
                 f"{indeterminate} indeterminate; {self.steps} search steps)",
                 f"  longest linearizable prefix found: {len(self.prefix)} operations"]
        if len(self.prefix) > PREFIX_LINES:
            lines.append(f"    ... {len(self.prefix) - PREFIX_LINES} earlier ones")
        lines += [f"    {op}" for op in self.prefix[-PREFIX_LINES:]]
        lines.append(f"  state after it: {self.state}")
        lines.append("  none of these could be placed next:")
        lines += [f"    {op}  ({WHY[allowed]})" for op, allowed in self.stuck]
        return "\n".join(lines)


@dataclass
class Result:
    """The verdict over every key: ``not linearizable`` if any key is, else
    ``unknown`` if the step budget ran out before every key was decided, else
    ``ok``."""

    verdict: str
    keys: int
    steps: int
    max_steps: int
    failures: list[KeyResult] = field(default_factory=list)
    unknown: list[KeyResult] = field(default_factory=list)
    unchecked: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == LINEARIZABLE

    def explain(self) -> str:
        lines = [f"{self.verdict}: {self.keys} keys, {self.steps} search steps "
                 f"(budget {self.max_steps})"]
        lines += [r.explain() for r in self.failures]
        for r in self.unknown:
            lines.append(f"key {_key(r.key)}: unknown, the step budget ran out "
                         f"({len(r.ops)} operations, {r.steps} steps spent on it)")
        if self.unchecked:
            lines.append("not checked (no budget left): "
                         + ", ".join(_key(k) for k in self.unchecked))
        return "\n".join(lines)

    __str__ = explain


def _key(key: Any) -> str:
    if isinstance(key, bytes):
        return key.decode(errors="backslashreplace")
    return str(key)


# --- the checker ------------------------------------------------------------------

def check(history: Iterable[Op], model: Model | None = None,
          max_steps: int = DEFAULT_MAX_STEPS) -> Result:
    """The verdict on ``history`` (a ``History`` or any iterable of ``Op``)."""
    model = model or Register()
    partitions: dict[Hashable, list[Op]] = {}
    for op in history:
        if op.status == FAIL or (not op.determinate
                                 and model.changes_nothing(*model_args(model, op))):
            continue
        assert op.status != OK or op.complete is not None, f"{op} has no completion"
        partitions.setdefault(model.partition(op), []).append(op)
    # small keys first: a violation is found with budget to spare
    order = sorted(partitions, key=lambda k: (len(partitions[k]), repr(k)))
    result = Result(LINEARIZABLE, len(order), 0, max_steps)
    for i, key in enumerate(order):
        verdict = _check_key(model, key, partitions[key], max_steps - result.steps)
        result.steps += verdict.steps
        if verdict.verdict == NOT_LINEARIZABLE:
            result.failures.append(verdict)
        elif verdict.verdict == UNKNOWN_VERDICT:
            result.unknown.append(verdict)
            result.unchecked = order[i + 1:]
            break
    if result.failures:
        result.verdict = NOT_LINEARIZABLE
    elif result.unknown:
        result.verdict = UNKNOWN_VERDICT
    return result


class _Events:
    """The doubly linked list of call and return events of one partition, by
    position in time order; the head sentinel is position ``2n``, the end -1."""

    def __init__(self, ops: list[Op]) -> None:
        n = len(ops)
        order = sorted([(op.invoke, 0, i) for i, op in enumerate(ops)]
                       + [(op.end, 1, i) for i, op in enumerate(ops)])
        self.head = 2 * n
        self.op_at = [i for _, _, i in order]
        self.is_call = [kind == 0 for _, kind, _ in order]
        self.match = [0] * (2 * n)        # a call's position -> its return's
        ret = {}
        for pos in range(2 * n - 1, -1, -1):
            if self.is_call[pos]:
                self.match[pos] = ret[self.op_at[pos]]
            else:
                ret[self.op_at[pos]] = pos
        self.next = list(range(1, 2 * n)) + [-1, 0 if n else -1]
        self.prev = [self.head] + list(range(0, 2 * n - 1)) + [-1]

    def lift(self, call: int) -> None:
        """Take an operation (its call and its return) out of the list."""
        nxt, prv = self.next, self.prev
        nxt[prv[call]] = nxt[call]
        prv[nxt[call]] = prv[call]
        ret = self.match[call]
        nxt[prv[ret]] = nxt[ret]
        if nxt[ret] != -1:
            prv[nxt[ret]] = prv[ret]

    def unlift(self, call: int) -> None:
        """Put it back (the reverse of ``lift``, in the reverse order)."""
        nxt, prv = self.next, self.prev
        ret = self.match[call]
        nxt[prv[ret]] = ret
        if nxt[ret] != -1:
            prv[nxt[ret]] = ret
        nxt[prv[call]] = call
        prv[nxt[call]] = call

    def candidates(self) -> tuple[int, list[int]]:
        """The first return's position, and the calls before it: the operations
        that may be linearized next."""
        found, pos = [], self.next[self.head]
        while pos != -1 and self.is_call[pos]:
            found.append(pos)
            pos = self.next[pos]
        return pos, found


def model_args(model: Model, op: Op) -> tuple:
    """``op`` as ``Model.step`` takes it after the state: (f, value, output)."""
    output = op.output if op.status == OK else UNKNOWN
    return (op.f, *model.prepare(op.f, op.input, output))


def _check_key(model: Model, key: Hashable, ops: list[Op], budget: int) -> KeyResult:
    """Wing-Gong-Lowe over one partition, within ``budget`` steps.

    One shortcut: a candidate that fits and changes nothing wherever it fits (a
    read, a CAS that answered False: ``Model.changes_nothing``) is placed with no
    alternative tried. Any completion that places it later can place it now
    instead: nothing that remains had to come before it (it is a candidate), it
    fits now, and taking it out of its later place changes no state there. So if
    placing it leads nowhere, neither does this configuration.
    """
    prepared = [model_args(model, op) for op in ops]   # once per op
    inert = [model.changes_nothing(*args) for args in prepared]
    alike = _alike_before(ops, prepared)
    events = _Events(ops)
    head, nxt, op_at, is_call = events.head, events.next, events.op_at, events.is_call
    step, equal = model.step, model.equal
    plain = type(model).equal is Model.equal     # ==: the list's own search will do
    cache: dict[int, list] = {}         # linearized bitset -> the states seen with it
    state, linearized, stack, steps = model.init(), 0, [], 0
    best = None                         # (linearized ops, state, candidates) deepest
    pos = nxt[head]
    while nxt[head] != -1:
        if steps == budget:
            return _explain(model, key, ops, prepared, events, UNKNOWN_VERDICT, steps,
                            _deeper(best, stack, state, events))
        steps += 1
        if is_call[pos]:
            i = op_at[pos]
            if alike[i] >= 0 and not linearized >> alike[i] & 1:
                pos = nxt[pos]  # the alike one invoked before it goes first
                continue
            fits, after = step(state, *prepared[i])
            if not fits:
                pos = nxt[pos]
                continue
            bits = linearized | (1 << i)
            seen = cache.setdefault(bits, [])
            unchanged = inert[i]
            if not (after in seen if plain else any(equal(after, s) for s in seen)):
                seen.append(after)
                stack.append((pos, state, unchanged))
                state, linearized = after, bits
                events.lift(pos)
                pos = nxt[head]
                continue
            if not unchanged:
                pos = nxt[pos]
                continue
            # placing it was explored already and as good as anything here: undo
        best = _deeper(best, stack, state, events)
        # a return (that operation had to be linearized by now) or a dead end:
        # undo the last choice, and the ones that had no alternative
        while True:
            if not stack:
                return _explain(model, key, ops, prepared, events, NOT_LINEARIZABLE,
                                steps, best)
            pos, state, forced = stack.pop()
            linearized &= ~(1 << op_at[pos])
            events.unlift(pos)
            if not forced:
                break
        pos = nxt[pos]
    return KeyResult(key, LINEARIZABLE, ops, steps)


def _alike_before(ops: list[Op], prepared: list[tuple]) -> list[int]:
    """For each indeterminate operation, the alike one (same model arguments, also
    indeterminate) invoked last before it, in the events' order; -1 for none.

    Why linearizing alike ones in invoke order loses nothing: take A invoked before
    B, alike, both returning at +infinity. A linearization that places B at point p
    while A is unplaced or placed later at q can swap them: A at p (p is after B's
    invoke, so after A's), B at q or nowhere (q > p is after B's invoke). Their
    effects are the same and neither output is checked, so every state along the
    way is unchanged."""
    last: dict = {}
    before = [-1] * len(ops)
    for i in sorted(range(len(ops)), key=lambda i: (ops[i].invoke, i)):
        if ops[i].status == OK:
            continue
        try:
            before[i] = last.get(prepared[i], -1)
            last[prepared[i]] = i
        except TypeError:
            pass  # an input that cannot be hashed: compared with no other
    return before


def _deeper(best, stack, state, events):
    """``best``, or the current configuration if the search got further here."""
    if best is not None and len(best[0]) >= len(stack):
        return best
    _, candidates = events.candidates()
    return ([events.op_at[p] for p, *_ in stack], state,
            [events.op_at[p] for p in candidates])


def _explain(model, key, ops, prepared, events, verdict, steps, best) -> KeyResult:
    """The longest prefix the search found and what it could not place after it."""
    placed, state, candidates = best
    stuck = [(ops[i], model.step(state, *prepared[i])[0])
             for i in sorted(candidates, key=lambda i: ops[i].invoke)]
    return KeyResult(key, verdict, ops, steps, [ops[i] for i in placed],
                     model.describe(state), stuck)


# --- simpler checks for the fault tests --------------------------------------------

def check_final_values(history: Iterable[Op], finals: dict, model: Model | None = None,
                       max_steps: int = DEFAULT_MAX_STEPS) -> Result:
    """No acknowledged write lost: ``finals`` (key -> the value read after heal,
    None when absent) must be what a linearization of ``history`` can leave. Each
    is checked as a read invoked after every completion in the history (still
    concurrent with the indeterminate operations, which may land at any time)."""
    ops = list(history)
    times = [t for op in ops for t in (op.invoke, op.complete) if t is not None]
    after = max(times, default=0) + 1
    reads = [Op(len(ops) + n, f"final {_key(key)}", key, "read", None, after, after, OK,
                value) for n, (key, value) in enumerate(finals.items())]
    return check(ops + reads, model, max_steps)


def check_incr_totals(history: Iterable[Op], finals: dict) -> list[str]:
    """For each counter key in ``finals`` (key -> final value; None counts as 0),
    acknowledged increments <= final <= acknowledged + indeterminate ones (for
    negative ones the other way round). Every key it checks must be a pure counter
    (incr and read only); a violation is one line naming the key."""
    violations = []
    by_key: dict[Any, list[Op]] = {key: [] for key in finals}
    for op in history:
        if op.key in by_key:
            by_key[op.key].append(op)
    for key, ops in by_key.items():
        writers = [op for op in ops if op.f not in ("incr", "read")]
        if writers:
            raise ValueError(f"key {_key(key)} is not a pure counter: {writers[0]}")
        incrs = [op for op in ops if op.f == "incr"]
        acked = sum(op.input for op in incrs if op.status == OK and op.output != ERROR)
        maybe = [op.input for op in incrs if not op.determinate]
        low = acked + sum(n for n in maybe if n < 0)
        high = acked + sum(n for n in maybe if n > 0)
        final = redis_value(finals[key]) if finals[key] is not None else 0
        if not isinstance(final, int) or not low <= final <= high:
            violations.append(
                f"key {_key(key)}: final value {_show_final(finals[key])} outside "
                f"[{low}, {high}]: acknowledged increments sum to {acked}, "
                f"{len(maybe)} indeterminate ones could add {low - acked} to +{high - acked}")
    return violations


def _show_final(value: Any) -> str:
    return "absent" if value is None else _key(value)


# --- recording an asyncio client ---------------------------------------------------

# raised when a request may or may not have been applied
INDETERMINATE = (TimeoutError, OSError, redis.exceptions.TimeoutError,
                 redis.exceptions.ConnectionError)


class Recorder:
    """Records each call of an asyncio test client in ``history``, by outcome:

    - it returns: ``ok``, with ``output(result)`` as the output;
    - it raises one of ``answered`` (say ``redis.ResponseError`` for an INCR of a
      string): ``ok`` with output ``ERROR``, the system's answer;
    - one of ``refused`` (a refusal that certainly applied nothing): ``fail``;
    - one of ``indeterminate`` (timeouts, lost connections) or ``timeout`` seconds
      pass: ``info``;
    - anything else (a bug, a cancellation): ``info``, and the exception goes on.

    ``clock`` gives the times (``loop.time`` in the simulation, ``time.monotonic``
    against real processes). The checked order is ``refused``, ``answered``, then
    ``indeterminate``, so a subclass can be singled out.
    """

    def __init__(self, history: History, clock: Callable[[], float],
                 refused: tuple = (), answered: tuple = (),
                 indeterminate: tuple = INDETERMINATE, timeout: float | None = None) -> None:
        self.history, self.clock, self.timeout = history, clock, timeout
        self.refused, self.answered, self.indeterminate = refused, answered, indeterminate

    async def call(self, process: Hashable, key: Any, f: str, value: Any,
                   request: Awaitable, output: Callable[[Any], Any] = lambda r: r) -> Op:
        """Await ``request`` (not started before: a coroutine) as ``f(value)`` on
        ``key`` by ``process``; the recorded operation."""
        op = self.history.invoke(process, key, f, value, self.clock())
        try:
            result = await asyncio.wait_for(request, self.timeout)
        except self.refused:
            self.history.fail(op, self.clock())
        except self.answered:
            self.history.ok(op, ERROR, self.clock())
        except self.indeterminate:
            self.history.info(op, self.clock())
        except BaseException:
            self.history.info(op, self.clock())
            raise
        else:
            self.history.ok(op, output(result), self.clock())
        return op
