"""``quorumkv status``: the ``/v1/cluster`` answer as a nodetool-status-like table."""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in UNITS:
        if size < 1024 or unit == UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


STATES = {"up": "UP", "suspect": "SU", "down": "DN"}


def _phi(phi) -> str:
    if phi is None:
        return "?"
    return "inf" if phi >= 1e9 else f"{phi:.1f}"


def format_status(status: dict) -> str:
    rows = [("State", "ID", "Address", "RESP", "Ranges", "Keys", "Bytes", "Phi")]
    for n in status.get("nodes", []):
        keys = n.get("keys")
        rows.append((STATES.get(n.get("state"), "??"), str(n.get("id")),
                     str(n.get("address")), str(n.get("resp_port")), str(n.get("ranges", "?")),
                     "?" if keys is None else str(keys), human_bytes(n.get("bytes")),
                     _phi(n.get("phi"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"Cluster as seen by {status.get('node_id', '?')}", ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    range_map = status.get("range_map", {})
    lines += ["", f"Range map: epoch {range_map.get('epoch', '?')}, "
                  f"{len(range_map.get('ranges', []))} ranges"]
    for ks in range_map.get("keyspaces", []):
        lines.append(f"  keyspace {ks.get('name')}: {ks.get('mode')}, "
                     f"replication factor {ks.get('replication_factor')}, "
                     f"default consistency {ks.get('default_consistency')}")
    return "\n".join(lines)
