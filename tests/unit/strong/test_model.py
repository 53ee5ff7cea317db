"""Model check: random command sequences applied through RangeMachine (encoded,
decoded, over an engine dict) answer what a plain dict model of Redis answers,
replies and versions alike, and after every entry the same live records (value,
expiry and version) in the engine, as the clock moves on and keys expire."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from quorumkv.core import keys
from quorumkv.core.strings import getrange, is_canonical_int64
from quorumkv.core.strong import commands as c
from quorumkv.core.strong.record import decode_record
from quorumkv.core.strong.replies import NOT_INTEGER, OFFSET_OUT_OF_RANGE, OVERFLOW, STRING_TOO_LONG

from .harness import NOW_MS, Err, Harness, plain

MAX_VALUE = 16
KEYS = st.sampled_from([b"a", b"b", b"c"])
VALUES = st.sampled_from([b"", b"0", b"7", b"-3", b"x", b"hello", b"9223372036854775806", b"01"])
BY = st.sampled_from([1, -1, 5, 2**62, -2**63, 2**63 - 1])
EXPIRY = st.sampled_from([0, NOW_MS + 5, NOW_MS + 50, NOW_MS + 5000, NOW_MS + 50_000, 1])
OPS = st.one_of(
    st.builds(c.Get, KEYS), st.builds(c.MGet, st.lists(KEYS, min_size=1, max_size=3).map(tuple)),
    st.builds(c.Exists, st.lists(KEYS, min_size=1, max_size=3).map(tuple)),
    st.builds(c.StrLen, KEYS), st.builds(c.GetRange, KEYS, st.integers(-6, 6), st.integers(-6, 6)),
    st.builds(c.Ttl, KEYS, st.booleans(), st.booleans()),
    st.builds(c.Set, KEYS, VALUES, EXPIRY, *[st.booleans()] * 4)
    .filter(lambda s: not (s.nx and s.xx) and not (s.keep_ttl and s.expiry_ms)),
    st.builds(c.SetNX, KEYS, VALUES), st.builds(c.GetSet, KEYS, VALUES), st.builds(c.GetDel, KEYS),
    st.builds(c.Delete, st.lists(KEYS, min_size=1, max_size=3).map(tuple)),
    st.builds(c.MSet, st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=3).map(tuple)),
    st.builds(c.MSetNX, st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=3).map(tuple)),
    st.builds(c.Incr, KEYS, BY), st.builds(c.Append, KEYS, VALUES),
    st.builds(c.SetRange, KEYS, st.integers(-1, 14), VALUES),
    st.builds(c.Cas, KEYS, st.none() | VALUES, VALUES, st.none() | st.integers(0, 6)),
    st.builds(c.Expire, KEYS, EXPIRY.filter(bool)), st.builds(c.Persist, KEYS),
    st.builds(c.Sweep, st.lists(KEYS, min_size=1, max_size=3).map(tuple)),
)


def live_records(h: Harness, now: int) -> dict:
    """The engine's live user records: key -> (value, expiry_ms, version)."""
    out = {}
    for skey, raw in h.store.items():
        if keys.is_system_key(skey):
            continue
        record = decode_record(raw)
        if record.is_live(now):
            out[keys.split_key(skey)[1]] = (record.value, record.expiry_ms, record.version)
    return out


class Model:
    """Redis's string commands on a dict of key -> [value, expiry_ms, version]."""

    def __init__(self) -> None:
        self.data: dict[bytes, list] = {}

    def live_records(self, now) -> dict:
        return {k: tuple(r) for k, r in self.data.items() if self.live(k, now)}

    def live(self, key, now):
        rec = self.data.get(key)
        if rec is not None and (rec[1] == 0 or rec[1] > now):
            return rec
        return None

    def ver(self, key, now) -> int:
        rec = self.live(key, now)
        return rec[2] if rec else 0

    def put(self, key, value, expiry, index, now) -> None:
        if expiry and expiry <= now:
            self.data.pop(key, None)
        else:
            self.data[key] = [value, expiry, index]

    def run(self, cmd, i, now):
        """(plain reply, version) as the documented rules give them."""
        key = getattr(cmd, "key", None)
        rec = self.live(key, now) if key is not None else None
        t = type(cmd)
        if t is c.Get:
            return (rec[0] if rec else None), self.ver(key, now)
        if t is c.MGet:
            return [self.live(k, now)[0] if self.live(k, now) else None for k in cmd.keys], \
                max(self.ver(k, now) for k in cmd.keys)
        if t is c.Exists:
            return (sum(1 for k in cmd.keys if self.live(k, now)),
                    max(self.ver(k, now) for k in cmd.keys))
        if t is c.StrLen:
            return (len(rec[0]) if rec else 0), self.ver(key, now)
        if t is c.GetRange:
            return (getrange(rec[0], cmd.start, cmd.end) if rec else b""), self.ver(key, now)
        if t is c.Ttl:
            if not rec:
                return -2, 0
            if not rec[1]:
                return -1, rec[2]
            ms = rec[1] if cmd.absolute else max(0, rec[1] - now)
            return ((ms + 500) // 1000 if cmd.seconds else ms), rec[2]
        if t in (c.Set, c.GetSet, c.SetNX):
            nx = t is c.SetNX or (t is c.Set and cmd.nx)
            xx = t is c.Set and cmd.xx
            get = t is c.GetSet or (t is c.Set and cmd.get)
            old = rec[0] if rec else None
            if (nx and rec) or (xx and not rec):
                return (0 if t is c.SetNX else old if get else None), self.ver(key, now)
            expiry = cmd.expiry_ms if t is c.Set else 0
            if t is c.Set and cmd.keep_ttl and rec:
                expiry = rec[1]
            self.put(key, cmd.value, expiry, i, now)
            return (1 if t is c.SetNX else old if get else "OK"), self.ver(key, now)
        if t is c.GetDel:
            self.data.pop(key, None) if rec else None
            return (rec[0] if rec else None), 0
        if t is c.Delete:
            n = 0
            for k in cmd.keys:
                if self.live(k, now):
                    del self.data[k]
                    n += 1
            return n, 0
        if t is c.MSet:
            for k, v in cmd.pairs:
                self.put(k, v, 0, i, now)
            return "OK", i
        if t is c.MSetNX:
            if any(self.live(k, now) for k, _ in cmd.pairs):
                return 0, max(self.ver(k, now) for k, _ in cmd.pairs)
            for k, v in cmd.pairs:
                self.put(k, v, 0, i, now)
            return 1, i
        if t is c.Incr:
            if rec and not is_canonical_int64(rec[0]):
                return Err(NOT_INTEGER), 0
            n = (int(rec[0]) if rec else 0) + cmd.by
            if not -2**63 <= n < 2**63:
                return Err(OVERFLOW), 0
            self.put(key, str(n).encode(), rec[1] if rec else 0, i, now)
            return n, i
        if t is c.Append:
            v = (rec[0] if rec else b"") + cmd.value
            if len(v) > MAX_VALUE:
                return Err(STRING_TOO_LONG), 0
            self.put(key, v, rec[1] if rec else 0, i, now)
            return len(v), i
        if t is c.SetRange:
            if cmd.offset < 0:
                return Err(OFFSET_OUT_OF_RANGE), 0
            old = bytearray(rec[0] if rec else b"")
            if not cmd.value:
                return len(old), self.ver(key, now)
            if cmd.offset + len(cmd.value) > MAX_VALUE:
                return Err(STRING_TOO_LONG), 0
            while len(old) < cmd.offset + len(cmd.value):
                old.append(0)
            old[cmd.offset:cmd.offset + len(cmd.value)] = cmd.value
            self.put(key, bytes(old), rec[1] if rec else 0, i, now)
            return len(old), i
        if t is c.Cas:
            if cmd.if_version is not None:
                ok = self.ver(key, now) == cmd.if_version
            else:
                ok = (rec is None if cmd.expected is None
                      else rec is not None and rec[0] == cmd.expected)
            if ok:
                self.put(key, cmd.value, 0, i, now)
                return 1, i
            return 0, self.ver(key, now)
        if t is c.Expire:
            if not rec:
                return 0, 0
            self.put(key, rec[0], cmd.expiry_ms, i, now)
            return 1, self.ver(key, now)
        if t is c.Persist:
            if not rec or not rec[1]:
                return 0, self.ver(key, now)
            self.put(key, rec[0], 0, i, now)
            return 1, i
        if t is c.Sweep:
            expired = [k for k in dict.fromkeys(cmd.keys)
                       if k in self.data and not self.live(k, now)]
            for k in expired:
                del self.data[k]
            return len(expired), 0
        raise AssertionError(cmd)

    def run_txn(self, txn, i, now):
        if any(self.ver(k, now) != v for k, v in txn.watches):
            return None, 0
        out = [self.run(cmd, i, now) for cmd in txn.commands]
        return [r for r, _ in out], max((v for _, v in out), default=0)


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_the_machine_answers_what_the_model_answers(data):
    h, model = Harness(max_value_bytes=MAX_VALUE), Model()
    now = NOW_MS
    for _ in range(data.draw(st.integers(1, 30), label="length")):
        now += data.draw(st.sampled_from([0, 0, 1, 4, 30, 400]), label="tick")
        if data.draw(st.integers(0, 5), label="txn?") == 0:
            cmds = tuple(data.draw(st.lists(OPS, max_size=4), label="txn"))
            watched = data.draw(st.lists(KEYS, max_size=2), label="watched")
            stale = data.draw(st.booleans(), label="stale")
            cmd = c.Txn(cmds, tuple((k, model.ver(k, now) + stale) for k in watched))
            expected = model.run_txn(cmd, h.index + 1, now)
        else:
            cmd = data.draw(OPS, label="command")
            expected = model.run(cmd, h.index + 1, now)
        reply = h.apply(cmd, now_ms=now)
        assert (plain(reply), reply.version) == expected, cmd
        assert live_records(h, now) == model.live_records(now), cmd
        if data.draw(st.booleans(), label="read?") and c.is_read_only(cmd):
            read = h.read(cmd, now_ms=now)
            assert (plain(read), read.version) == model.run(cmd, h.index, now)
