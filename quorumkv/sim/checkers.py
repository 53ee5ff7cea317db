"""What must hold after a simulated run (and after a fault test's run).

(a) convergence: every replica of a key stores the same version;
(b) no acknowledged write is lost: the final version of a key is at least as new
    as every acknowledged write of it (LWW may let a newer write win, never an
    older one);
(c) read-your-writes: a session's successful read of a key returns a version at
    least as new as the session's last acknowledged write of that key;
(d) a QUORUM (or ALL) read that started after a QUORUM (or ALL) write of the same
    key was acknowledged sees that write or something newer;
(e) after a FLUSHDB: every node holds the same truncation, and no node returns a
    version it hides. (b), (c) and (d) then leave out the writes it removed: those
    stamped at or before it;
(f) a read that started after a FLUSHDB was acknowledged at ALL (every node took
    it) returns nothing stamped at or before it.

Each keyspace is checked on its own (its keys, its operations, its truncation), and
each violation starts with the keyspace's name.
"""

from __future__ import annotations

from ..core.consistency import Level

STRONG = (Level.QUORUM, Level.ALL)


def final_versions(sim, keyspace: str, keys) -> tuple[dict, list]:
    """Each key's stored version per replica; violations of (a)."""
    violations, finals = [], {}
    ranges = next(iter(sim.nodes.values())).ranges
    ks = ranges.keyspaces[keyspace]
    for key in keys:
        pkey = ks.placement_key(key)
        replicas = ranges.lookup(keyspace, pkey).replicas
        seen = {n: sim.nodes[n].storage.get(ks.keyspace_id, pkey) for n in replicas}
        distinct = set(seen.values())
        if len(distinct) > 1:
            violations.append(f"(a) {key.decode()} did not converge: "
                              + ", ".join(f"{n}={v.ts if v else None}" for n, v in seen.items()))
        finals[key] = max((v for v in distinct if v is not None), default=None)
    return finals, violations


def check_truncations(sim, keyspace: str, keys) -> tuple[int, list]:
    """The truncation of ``keyspace`` every node holds (0: none); violations of (e)."""
    ks = next(iter(sim.nodes.values())).ranges.keyspaces[keyspace]
    held = {n: node.storage.truncated.get(ks.keyspace_id, 0) for n, node in sim.nodes.items()}
    truncated = max(held.values())
    violations = [f"(e) {n} holds truncation {t}, not {truncated}"
                  for n, t in held.items() if t != truncated]
    for n, node in sim.nodes.items():
        for key in keys:
            version = node.storage.get(ks.keyspace_id, ks.placement_key(key))
            if version is not None and version.ts <= truncated:
                violations.append(f"(e) {n} returns {key.decode()} at ts {version.ts}, "
                                  f"flushed at {truncated}")
    return truncated, violations


def check(sim) -> list[str]:
    """Every check, on each keyspace on its own: a violation names its keyspace."""
    from .run import KEYS
    violations = []
    for keyspace, keys in KEYS.items():
        finals, converged = final_versions(sim, keyspace, keys)
        truncated, flushed = check_truncations(sim, keyspace, keys)
        ops = [o for o in sim.result.ops if o.keyspace == keyspace]
        history = check_history(ops, {k: (v.ts if v else 0) for k, v in finals.items()},
                                truncated)
        violations += [f"{keyspace}: {v}" for v in converged + flushed + history]
    return violations


def check_history(ops, final_ts: dict, truncated: int = 0) -> list[str]:
    """(b), (c) and (d) over a history of operations (``Op``: kind, key, level,
    start, end, ok, ts, session) and each key's final version timestamp (0: none);
    writes stamped at or before ``truncated`` were flushed."""
    violations = []
    for flush in (o for o in ops if o.kind == "flush" and o.ok and o.level is Level.ALL):
        for read in ops:
            if read.kind == "read" and read.ok and read.start > flush.end \
                    and 0 < read.ts <= flush.ts:
                violations.append(f"(f) read of {read.key.decode()} at {read.start:.4f} "
                                  f"returned ts {read.ts}, flushed at ALL at {flush.ts}")
    ops = [o for o in ops if o.kind != "flush"
           and (o.kind == "read" or not o.ok or o.ts > truncated)]
    for op in ops:
        if op.kind != "read" and op.ok:
            final = final_ts.get(op.key, 0)
            if final < op.ts:
                violations.append(f"(b) acknowledged {op.kind} of {op.key.decode()} at "
                                  f"{op.level.name} (ts {op.ts}) lost: final {final}")
    last_write: dict[bytes, int] = {}
    for op in sorted((o for o in ops if o.session), key=lambda o: o.start):
        if op.kind != "read" and op.ok:
            last_write[op.key] = max(last_write.get(op.key, 0), op.ts)
        elif op.kind == "read" and op.ok and op.ts < last_write.get(op.key, 0):
            violations.append(f"(c) session read of {op.key.decode()} at {op.level.name} "
                              f"returned ts {op.ts}, older than its write "
                              f"{last_write[op.key]}")
    writes = [o for o in ops if o.kind != "read" and o.ok and o.level in STRONG]
    for read in ops:
        if read.kind == "read" and read.ok and read.level in STRONG:
            for w in writes:
                if w.key == read.key and w.end < read.start and read.ts < w.ts:
                    violations.append(f"(d) {read.level.name} read of {read.key.decode()} "
                                      f"at {read.start:.4f} returned ts {read.ts}, older "
                                      f"than the {w.level.name} write {w.ts} acknowledged "
                                      f"at {w.end:.4f}")
    return violations
