"""``quorumkv status``: the ``/v1/cluster`` answer as a nodetool-status-like table,
then a table of every keyspace (mode, partitioner, replication factor, ranges, db).

The table comes from the first node of ``--http`` that answers. Key and byte
counts are RocksDB's own estimates (``rocksdb.estimate-num-keys``): they count
overwritten and deleted versions until compaction merges them, so replicas with
the same data can show different figures; they are printed as ``~N``. Counting
exactly would scan every node's whole data set on each call. The hint backlog of
a node is what every node that answers holds for it: ``status`` asks the other
nodes too (at the same time, each bounded by ``--timeout``).

Strong ranges follow, one line per replica: the range's leader, term and commit
index (the leader's), and each replica's role, applied index (its own) and match
index (how far its log matches the leader's, which only the leader knows). "?" is
what no node that answered knows: a replica down, or no leader.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
STATES = {"up": "UP", "suspect": "SU", "down": "DN", "left": "LEFT"}
MEMBERSHIP = {"joining": "JOIN", "leaving": "LEAV"}  # shown before the detector's view


class Unreachable(Exception):
    """No address answered; the message names each address and why."""


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in UNITS:
        if size < 1024 or unit == UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def base_urls(values) -> list[str]:
    """``--http`` values (repeatable, each comma-separated) as base URLs; a bare
    ``host:port`` gets ``http://``."""
    urls = []
    for value in values:
        for part in value.split(","):
            part = part.strip().rstrip("/")
            if part:
                urls.append(part if "://" in part else f"http://{part}")
    return urls


def fetch_cluster(base: str, timeout: float) -> dict:
    """One node's ``/v1/cluster``; raises Unreachable with the reason."""
    url = base + "/v1/cluster"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            body = reply.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Unreachable(f"cannot read {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        status = json.loads(body)
    except ValueError:
        raise Unreachable(f"{url} did not return JSON") from None
    if not isinstance(status, dict) or "nodes" not in status:
        raise Unreachable(f"{url} is not a QuorumKV node's cluster view")
    return status


def first_answer(bases: list[str], timeout: float) -> tuple[str, dict, list[str]]:
    """``(base, status, errors of the addresses tried before it)``, trying the
    addresses in order; Unreachable when none answers."""
    errors = []
    for base in bases:
        try:
            return base, fetch_cluster(base, timeout), errors
        except Unreachable as exc:
            errors.append(str(exc))
    raise Unreachable("; ".join(errors) if len(errors) == 1
                      else "no node answered: " + "; ".join(errors))


def hint_backlog(status: dict, timeout: float) -> tuple[dict[str, int], list[str], list[str]]:
    """``(hints held for each node, summed over the nodes that answered; those that
    answered; those that did not)``. The node that gave ``status`` is not asked again."""
    asked = {n["id"]: f"http://{n['address']}:{n['http_port']}"
             for n in status["nodes"] if n["id"] != status.get("node_id")}
    views = {status.get("node_id"): status}
    if asked:
        with ThreadPoolExecutor(max_workers=min(16, len(asked))) as pool:
            futures = {node_id: pool.submit(fetch_cluster, base, timeout)
                       for node_id, base in asked.items()}
        for node_id, future in futures.items():
            try:
                views[node_id] = future.result()
            except Unreachable:
                pass
    totals = {n["id"]: 0 for n in status["nodes"]}
    for view in views.values():
        for n in view["nodes"]:
            if n.get("id") in totals:
                totals[n["id"]] += n.get("hints_pending") or 0
    answered = sorted(str(v) for v in views)
    missing = sorted(set(asked) - set(views))
    return totals, answered, missing


def _phi(phi) -> str:
    if phi is None:
        return "?"
    return "inf" if phi >= 1e9 else f"{phi:.1f}"


def _estimate(n) -> str:
    return "?" if n is None else f"~{n}"


def format_status(status: dict, hints: dict[str, int] | None = None,
                  hints_from: list[str] = (), hints_missing: list[str] = ()) -> str:
    rows = [("State", "ID", "Address", "RESP", "Ranges", "Keys", "Bytes", "Hints", "Phi")]
    for n in status.get("nodes", []):
        held = (hints or {}).get(n.get("id"), n.get("hints_pending"))
        state = STATES.get(n.get("state"), "??")
        if n.get("membership") in MEMBERSHIP:
            state = f"{MEMBERSHIP[n['membership']]}/{state}"
        rows.append((state, str(n.get("id")),
                     str(n.get("address")), str(n.get("resp_port")), str(n.get("ranges", "?")),
                     _estimate(n.get("keys")), _estimate_bytes(n.get("bytes")),
                     "?" if held is None else str(held), _phi(n.get("phi"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"Cluster as seen by {status.get('node_id', '?')}", ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines += ["", "Keys, Bytes: RocksDB's estimates (~), which count overwritten and deleted",
              "  versions until compaction: replicas of the same data may differ. DBSIZE",
              "  (redis-cli) counts the live keys exactly, by a scan of the cluster."]
    if hints is not None:
        lines.append(f"Hints: writes held for that node, to deliver when it is up; held by "
                     f"{', '.join(hints_from) or '?'}"
                     + (f" ({', '.join(hints_missing)} did not answer)" if hints_missing else ""))
    range_map = status.get("range_map", {})
    version = range_map.get("version", range_map.get("epoch", "?"))
    lines += ["", f"Range map: version {version}, {len(range_map.get('ranges', []))} ranges",
              ""] + format_keyspaces(status.get("keyspaces") or range_map.get("keyspaces", []))
    if status.get("strong_ranges"):
        lines += [""] + format_strong_ranges(status["strong_ranges"],
                                             status.get("strong_unanswered", []))
    return "\n".join(lines)


def _known(value) -> str:
    return "?" if value is None else str(value)


def format_strong_ranges(ranges: list[dict], unanswered: list[str] = ()) -> list[str]:
    """A line per replica of each strong range; the range's own columns on its first."""
    header = ("Keyspace", "Range", "Leader", "Term", "Commit", "Replica", "Role",
              "Applied", "Match")
    rows = [header]
    for r in ranges:
        first = (str(r["keyspace"]), str(r["range_id"]), r["leader"] or "?", str(r["term"]),
                 _known(r["commit"]))
        for i, replica in enumerate(r["replicas"]):
            leading = first if i == 0 else ("",) * len(first)
            rows.append(leading + (str(replica["id"]), replica["role"] or "?",
                                   _known(replica["applied"]), _known(replica["match"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {1, 3, 4, 7, 8}  # numbers
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines = [f"Strong ranges ({len(ranges)})", ""] + lines
    if unanswered:
        lines.append(f"Not answering (their replicas show ?): {', '.join(unanswered)}")
    return lines


def format_keyspaces(keyspaces: list[dict]) -> list[str]:
    """One row per keyspace; ``-`` for a keyspace no Redis database number names."""
    rows = [("Keyspace", "Id", "Mode", "Partitioner", "RF", "Ranges", "DB", "Consistency")]
    for ks in keyspaces:
        db = ks.get("db")
        rows.append((str(ks.get("name")), str(ks.get("id", "?")), str(ks.get("mode")),
                     str(ks.get("partitioner")), str(ks.get("replication_factor")),
                     str(ks.get("ranges", "?")), "-" if db is None else str(db),
                     str(ks.get("default_consistency"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]


def _estimate_bytes(n) -> str:
    return "?" if n is None else "~" + human_bytes(n)
