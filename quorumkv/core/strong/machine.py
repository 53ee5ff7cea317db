"""The state machine of a strong range: what applying a committed command does.

How it works. Raft hands the host the committed entries of a range in log order;
for each, the host calls ``RangeMachine.apply(index, data, reader)``. The
machine decodes the :class:`~.commands.Proposal`, reads what it needs through
``reader.get(storage key)`` and answers ``Applied(reply, writes)``: the reply
for the proposer's client and the ``(storage key, bytes | None)`` writes (None
deletes) that the host puts in its one write batch, with the range's applied
index (``record.applied_index_record``). Applying several entries in one batch,
the host gives a reader that sees the writes of the earlier ones
(:class:`OverlayReader`). The machine has no clock: expiry is decided by the
proposal's ``now_ms``, so every replica decides it the same.

A user record is ``(version, expiry_ms, value)``, version the index of the entry
that last set it (core/keys.py draws the layout). An expired record reads as
absent; it stays stored until a write replaces or deletes it, or the host
proposes a ``Sweep`` of it.

Exactly-once (Raft thesis §6.3). A proposal may carry a session (``client_id``,
``seq``), a client numbering its requests. The machine keeps, per client, the last
applied ``seq`` and its reply, in session records of the range (so snapshots and
restarts carry them). A proposal whose ``seq`` equals the last is a retry of it:
not applied again, answered with the kept reply. One below the last cannot be a
retry the client still waits for (a client sends its next request after the
previous one's reply), so only the latest reply is kept and an older ``seq`` is
answered ``ERR duplicate request``, applying nothing. A session idle for more
than ``session_idle_ms`` (by proposals' ``now_ms``) is dropped when a later entry
applies, and at most ``max_sessions`` are kept, the least recently used dropped
first; a client whose session was dropped is new again, so a retry that comes
after that may apply twice (the thesis has clients register to turn this into an
error; with an hour's idle time the window is a client that retries an hour late).

Reads. A linearizable read is served after ReadIndex without a log entry:
``read(command, reader, now_ms)`` for :func:`~.commands.is_read_only` commands.

Transactions. A ``Txn`` first compares its watched keys' versions: any changed
(a key that expired or was deleted has version 0), it applies nothing and
answers the null array, as Redis's EXEC after a WATCHed key changed. Otherwise
its commands apply in order, each seeing the previous ones' writes, and a
command's error is its own reply in the array while the others still apply
(Redis's EXEC). One difference: a watched key that was absent, then created and
deleted again before the EXEC (a SET with a past expiry time does both), is not
seen as changed (no record keeps the trace).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import keys
from ..strings import INT64_MAX, INT64_MIN, getrange, is_canonical_int64
from . import commands as c
from . import longdouble
from .record import Session, decode_record, decode_session, encode_record, encode_session
from .replies import (
    DUPLICATE_REQUEST, KEY_OUTSIDE_RANGE, NAN_OR_INFINITY, NOT_FLOAT, NOT_INTEGER,
    OFFSET_OUT_OF_RANGE, OVERFLOW, STRING_TOO_LONG, Array, Bulk, Error, Int, Nil, Ok, Reply,
)

DEFAULT_SESSION_IDLE_MS = 60 * 60 * 1000
DEFAULT_MAX_SESSIONS = 10_000
DEFAULT_MAX_VALUE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one entry gives: the reply, then the writes to persist
    (in the host's batch, with the applied index) before the reply is sent,
    in order: a key written twice (a session dropped, then used again) takes
    the later."""
    reply: Reply
    writes: list  # [(storage key, bytes | None), ...]


class OverlayReader:
    """A reader that sees ``pending`` writes (skey -> bytes | None) over ``base``."""

    __slots__ = ("base", "pending")

    def __init__(self, base, pending: dict | None = None) -> None:
        self.base = base
        self.pending = {} if pending is None else pending

    def get(self, skey: bytes) -> bytes | None:
        if skey in self.pending:
            return self.pending[skey]
        return self.base.get(skey)

    def add(self, writes) -> None:
        """Lay an ``Applied``'s writes over the base (the next entry sees them)."""
        self.pending.update(writes)


class _Failed(Exception):
    """A command's error reply (raised before it has written anything)."""


class _Run:
    """One command's view of the range: live records by key, writes pending on an
    overlay. ``index`` None: a read, which never writes."""

    def __init__(self, machine: "RangeMachine", reader, now_ms: int, index: int | None):
        self.m = machine
        self.view = OverlayReader(reader)
        self.now_ms = now_ms
        self.index = index

    def load(self, key: bytes):
        raw = self.view.get(self.m.skey(key))
        if raw is None:
            return None
        record = decode_record(raw)
        return record if record.is_live(self.now_ms) else None

    def version(self, key: bytes) -> int:
        record = self.load(key)
        return record.version if record is not None else 0

    def store(self, key: bytes, value: bytes, expiry_ms: int = 0) -> int:
        """Writes the key (deletes it if ``expiry_ms`` already passed); its version."""
        assert self.index is not None, "a read wrote"
        if expiry_ms and expiry_ms <= self.now_ms:
            self.delete(key)  # Redis: a write with an expiry in the past deletes
            return 0
        self.view.pending[self.m.skey(key)] = encode_record(self.index, expiry_ms, value)
        return self.index

    def delete(self, key: bytes) -> None:
        assert self.index is not None, "a read wrote"
        self.view.pending[self.m.skey(key)] = None

    def check_size(self, n: int) -> None:
        if n > self.m.max_value_bytes:
            raise _Failed(STRING_TOO_LONG)


class RangeMachine:
    """The state machine of one range of a strong keyspace.

    ``range_span`` is the range's ``(start, end)`` of placement keys (end ``b""``:
    to the keyspace's end); ``pkey_of(key)`` the keyspace's placement key (the
    machine knows no hashing). Sessions live in memory as well as in their
    records: after a restart or a snapshot install the host calls
    :meth:`restore` with the range's session records before applying more.
    ``apply`` changes the in-memory sessions at once, so a host whose batch
    write fails must not apply further: it restarts and restores."""

    def __init__(self, keyspace_id: int, range_span: tuple[bytes, bytes], *, range_id: int,
                 pkey_of=lambda key: key, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
                 session_idle_ms: int = DEFAULT_SESSION_IDLE_MS,
                 max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        assert max_sessions >= 1
        self.keyspace_id = keyspace_id
        self.start, self.end = range_span
        self.range_id = range_id
        self.pkey_of = pkey_of
        self.max_value_bytes = max_value_bytes
        self.session_idle_ms = session_idle_ms
        self.max_sessions = max_sessions
        self.sessions: dict[bytes, Session] = {}  # least recently applied first

    # ---- keys ----

    def skey(self, key: bytes) -> bytes:
        return keys.storage_key(self.keyspace_id, self.pkey_of(key))

    def owns(self, key: bytes) -> bool:
        pkey = self.pkey_of(key)
        return self.start <= pkey and (not self.end or pkey < self.end)

    # ---- apply and read ----

    def apply(self, index: int, data: bytes, reader) -> Applied:
        """Apply the committed entry ``index`` whose data is ``data``."""
        if not data:
            return Applied(Nil(), [])  # the empty entry a new leader commits
        try:
            p = c.decode_proposal(data)
        except c.CodecError as e:  # the same on every replica: answered, not applied
            return Applied(Error(f"ERR undecodable command: {e}"), [])
        writes = self._expire_sessions(p.now_ms)
        if p.client_id is not None:
            kept = self._seen(p)
            if kept is not None:
                return Applied(kept, writes)
        run = _Run(self, reader, p.now_ms, index)
        reply = self._run(run, p.command)
        writes.extend(run.view.pending.items())
        if p.client_id is not None:
            writes.extend(self._remember(p, index, reply))
        return Applied(reply, writes)

    def read(self, command, reader, now_ms: int) -> Reply:
        """A read-only command's reply from the engine as ``reader`` sees it."""
        if not c.is_read_only(command):
            raise ValueError(f"{type(command).__name__} writes: it goes through the log")
        return self._run(_Run(self, reader, now_ms, None), command)

    def _run(self, run: _Run, command) -> Reply:
        if not all(self.owns(k) for k in c.keys_of(command)):
            return Error(KEY_OUTSIDE_RANGE)
        if isinstance(command, c.Txn):
            return _txn(run, command)
        return _one(run, command)

    # ---- sessions ----

    def restore(self, records) -> None:
        """Rebuild the sessions from their ``(key, value)`` records (any order)."""
        loaded = [(keys.session_client(k), decode_session(v)) for k, v in records]
        loaded.sort(key=lambda item: item[1].last_index)
        self.sessions = dict(loaded)

    def _seen(self, p: c.Proposal) -> Reply | None:
        """The reply to a request already applied, or None for a new one."""
        session = self.sessions.get(p.client_id)
        if session is None or p.seq > session.seq:
            return None
        if p.seq == session.seq:
            return session.reply
        return Error(f"{DUPLICATE_REQUEST}: seq {p.seq} is older than the session's last "
                     f"applied seq {session.seq}")

    def _remember(self, p: c.Proposal, index: int, reply: Reply) -> list:
        session = Session(p.seq, index, p.now_ms, reply)
        self.sessions.pop(p.client_id, None)  # to the most recent end
        self.sessions[p.client_id] = session
        writes = [(keys.session_key(self.range_id, p.client_id), encode_session(session))]
        while len(self.sessions) > self.max_sessions:
            writes.append(self._drop_oldest())
        return writes

    def _expire_sessions(self, now_ms: int) -> list:
        """Drop sessions idle past ``session_idle_ms``, oldest first, stopping at the
        first that is not: the same on every replica, whatever the clocks did."""
        writes = []
        cutoff = now_ms - self.session_idle_ms
        while self.sessions and next(iter(self.sessions.values())).last_active_ms < cutoff:
            writes.append(self._drop_oldest())
        return writes

    def _drop_oldest(self) -> tuple[bytes, None]:
        client_id = next(iter(self.sessions))
        del self.sessions[client_id]
        return keys.session_key(self.range_id, client_id), None


# ---- the commands ---------------------------------------------------------------------

def _one(run: _Run, command) -> Reply:
    try:
        return _HANDLERS[type(command)](run, command)
    except _Failed as e:
        return Error(str(e))


def _txn(run: _Run, txn: c.Txn) -> Reply:
    if any(run.version(key) != version for key, version in txn.watches):
        return Nil(array=True)
    items = tuple(_one(run, command) for command in txn.commands)
    return Array(items, max((i.version for i in items), default=0))


def _bulk_or_nil(record, version: int | None = None) -> Reply:
    """The record's value, or nil; ``version`` (when given) is the key's after the
    command, for a command that wrote it (SET ... GET)."""
    if record is None:
        return Nil(version=version or 0)
    return Bulk(record.value, record.version if version is None else version)


def _get(run, cmd: c.Get):
    return _bulk_or_nil(run.load(cmd.key))


def _mget(run, cmd: c.MGet):
    items = tuple(_bulk_or_nil(run.load(k)) for k in cmd.keys)
    return Array(items, max(i.version for i in items))


def _exists(run, cmd: c.Exists):
    found = [r for r in map(run.load, cmd.keys) if r is not None]
    return Int(len(found), max((r.version for r in found), default=0))


def _strlen(run, cmd: c.StrLen):
    record = run.load(cmd.key)
    return Int(0) if record is None else Int(len(record.value), record.version)


def _getrange(run, cmd: c.GetRange):
    record = run.load(cmd.key)
    if record is None:
        return Bulk(b"")  # Redis: an empty string, not nil
    return Bulk(getrange(record.value, cmd.start, cmd.end), record.version)


def _ttl(run, cmd: c.Ttl):
    record = run.load(cmd.key)
    if record is None:
        return Int(-2)
    if not record.expiry_ms:
        return Int(-1, record.version)
    ms = record.expiry_ms if cmd.absolute else max(0, record.expiry_ms - run.now_ms)
    return Int((ms + 500) // 1000 if cmd.seconds else ms, record.version)


def _set(run, cmd: c.Set):
    if not (cmd.nx or cmd.xx or cmd.keep_ttl or cmd.get):
        return Ok(run.store(cmd.key, cmd.value, cmd.expiry_ms))  # nothing to read first
    current = run.load(cmd.key)
    if (cmd.nx and current is not None) or (cmd.xx and current is None):
        return _bulk_or_nil(current) if cmd.get else Nil(version=run.version(cmd.key))
    expiry = current.expiry_ms if cmd.keep_ttl and current is not None else cmd.expiry_ms
    version = run.store(cmd.key, cmd.value, expiry)
    return _bulk_or_nil(current, version) if cmd.get else Ok(version)


def _setnx(run, cmd: c.SetNX):
    current = run.load(cmd.key)
    if current is not None:
        return Int(0, current.version)
    return Int(1, run.store(cmd.key, cmd.value))


def _getset(run, cmd: c.GetSet):
    return _set(run, c.Set(cmd.key, cmd.value, get=True))


def _getdel(run, cmd: c.GetDel):
    current = run.load(cmd.key)
    if current is not None:
        run.delete(cmd.key)
    return _bulk_or_nil(current, 0)


def _getex(run, cmd: c.GetEx):
    current = run.load(cmd.key)
    if current is None:
        return Nil()
    version = current.version
    if cmd.persist and current.expiry_ms:
        version = run.store(cmd.key, current.value)
    elif cmd.expiry_ms:
        version = run.store(cmd.key, current.value, cmd.expiry_ms)
    return Bulk(current.value, version)


def _delete(run, cmd: c.Delete):
    count = 0
    for key in cmd.keys:
        if run.load(key) is not None:
            run.delete(key)
            count += 1
    return Int(count)


def _mset(run, cmd: c.MSet):
    version = 0
    for key, value in cmd.pairs:
        version = run.store(key, value)
    return Ok(version)


def _msetnx(run, cmd: c.MSetNX):
    existing = [r for r in (run.load(k) for k, _ in cmd.pairs) if r is not None]
    if existing:
        return Int(0, max(r.version for r in existing))
    return Int(1, _mset(run, c.MSet(cmd.pairs)).version)


def _incr(run, cmd: c.Incr):
    current = run.load(cmd.key)
    if current is not None and not is_canonical_int64(current.value):
        raise _Failed(NOT_INTEGER)
    total = (int(current.value) if current is not None else 0) + cmd.by
    if not INT64_MIN <= total <= INT64_MAX:
        raise _Failed(OVERFLOW)
    return Int(total, _store_keeping_ttl(run, cmd.key, str(total).encode(), current))


def _store_keeping_ttl(run, key: bytes, value: bytes, current) -> int:
    """A read-modify-write keeps the key's expiry, as Redis's do."""
    return run.store(key, value, current.expiry_ms if current is not None else 0)


def _incrbyfloat(run, cmd: c.IncrByFloat):
    current = run.load(cmd.key)
    try:
        value = longdouble.parse(current.value) if current is not None else 0
        increment = longdouble.parse(cmd.increment)
    except longdouble.NotAFloat:
        raise _Failed(NOT_FLOAT) from None
    total = longdouble.add(value, increment)
    if total is None:
        raise _Failed(NAN_OR_INFINITY)
    text = longdouble.format_human(total)
    run.check_size(len(text))
    return Bulk(text, _store_keeping_ttl(run, cmd.key, text, current))


def _append(run, cmd: c.Append):
    current = run.load(cmd.key)
    value = current.value + cmd.value if current is not None else cmd.value
    run.check_size(len(value))
    return Int(len(value), _store_keeping_ttl(run, cmd.key, value, current))


def _setrange(run, cmd: c.SetRange):
    if cmd.offset < 0:
        raise _Failed(OFFSET_OUT_OF_RANGE)
    current = run.load(cmd.key)
    old = current.value if current is not None else b""
    if not cmd.value:  # Redis: nothing to write, nothing created
        return Int(len(old), current.version if current is not None else 0)
    run.check_size(cmd.offset + len(cmd.value))
    head = old[:cmd.offset].ljust(cmd.offset, b"\0")
    value = head + cmd.value + old[cmd.offset + len(cmd.value):]
    return Int(len(value), _store_keeping_ttl(run, cmd.key, value, current))


def _cas(run, cmd: c.Cas):
    current = run.load(cmd.key)
    if cmd.if_version is not None:
        matches = run.version(cmd.key) == cmd.if_version
    elif cmd.expected is None:
        matches = current is None
    else:
        matches = current is not None and current.value == cmd.expected
    if not matches:
        return Int(0, run.version(cmd.key))
    return Int(1, run.store(cmd.key, cmd.value))


def _expire_refused(conditions: tuple, expiry_ms: int, current_ms: int) -> bool:
    """Whether EXPIRE's conditions keep the current expiry (0: none, which GT sees
    as infinite and LT as larger than any), as api/resp/expiry.py decides it."""
    has = current_ms != 0
    return (("NX" in conditions and has) or ("XX" in conditions and not has)
            or ("GT" in conditions and (not has or expiry_ms <= current_ms))
            or ("LT" in conditions and has and expiry_ms >= current_ms))


def _expire(run, cmd: c.Expire):
    current = run.load(cmd.key)
    if current is None:
        return Int(0)
    if _expire_refused(cmd.conditions, cmd.expiry_ms, current.expiry_ms):
        return Int(0, current.version)
    if cmd.expiry_ms <= run.now_ms:  # already past (a negative time too): delete
        run.delete(cmd.key)
        return Int(1)
    return Int(1, run.store(cmd.key, current.value, cmd.expiry_ms))


def _persist(run, cmd: c.Persist):
    current = run.load(cmd.key)
    if current is None or not current.expiry_ms:
        return Int(0, current.version if current is not None else 0)
    return Int(1, run.store(cmd.key, current.value))


def _sweep(run, cmd: c.Sweep):
    """Expired records only: a live key, or one written since the host looked, stays."""
    count = 0
    for key in cmd.keys:
        raw = run.view.get(run.m.skey(key))
        if raw is not None and not decode_record(raw).is_live(run.now_ms):
            run.delete(key)
            count += 1
    return Int(count)


def _refused(run, cmd: c.Refused):
    raise _Failed(cmd.message)


_HANDLERS = {
    c.Get: _get, c.MGet: _mget, c.Exists: _exists, c.StrLen: _strlen,
    c.GetRange: _getrange, c.Ttl: _ttl, c.Set: _set, c.SetNX: _setnx, c.GetSet: _getset,
    c.GetDel: _getdel, c.GetEx: _getex, c.Delete: _delete, c.MSet: _mset,
    c.MSetNX: _msetnx, c.Incr: _incr, c.IncrByFloat: _incrbyfloat, c.Append: _append,
    c.SetRange: _setrange, c.Cas: _cas, c.Expire: _expire, c.Persist: _persist,
    c.Sweep: _sweep, c.Refused: _refused,
}
