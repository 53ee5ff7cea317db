"""``quorumkv ranges``: every range with its bounds, replicas, size and load, the
hottest first, like a Key Visualizer in text (from a node's ``/v1/ranges``).

Bounds are readable: a range keyspace's are its keys (``[l, r)``; an open end is
blank), a hash keyspace's are intervals of the 64-bit key hash, shown by their top
32 bits (``#[40000000, 80000000)``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from .status import Unreachable, human_bytes

HASH_DIGITS = 8  # top 32 bits of a 64-bit hash bound


def fetch_ranges(bases: list[str], keyspace: str | None, sort: str,
                 timeout: float) -> dict:
    """``/v1/ranges`` of the first address that answers. A node's refusal (unknown
    keyspace) raises LookupError with its message; no answer raises Unreachable."""
    query = urllib.parse.urlencode({k: v for k, v in (("keyspace", keyspace),
                                                       ("sort", sort)) if v})
    errors = []
    for base in bases:
        url = f"{base}/v1/ranges?{query}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500:
                try:
                    message = json.loads(exc.read()).get("error", str(exc))
                except ValueError:
                    message = str(exc)
                raise LookupError(message) from None
            errors.append(f"cannot read {url}: HTTP {exc.code}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"cannot read {url}: {getattr(exc, 'reason', exc)}")
    raise Unreachable("; ".join(errors))


def readable_key(raw: bytes) -> str:
    """A bound as text: itself when printable UTF-8, else with ``\\xNN`` escapes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable() and "," not in text:
        return text
    return "".join(chr(b) if 0x21 <= b < 0x7F and b not in b",\\" else f"\\x{b:02x}"
                   for b in raw)


def readable_bounds(partitioner: str, start_hex: str, end_hex: str) -> str:
    start, end = bytes.fromhex(start_hex), bytes.fromhex(end_hex)
    if partitioner == "hash":
        low = start[:HASH_DIGITS // 2].hex().ljust(HASH_DIGITS, "0")
        high = end[:HASH_DIGITS // 2].hex().ljust(HASH_DIGITS, "0") if end else "end"
        return f"#[{low}, {high})"
    return f"[{readable_key(start) if start else ' '}, {readable_key(end) if end else ''})"


def _rate(value: float) -> str:
    return f"{value:.1f}"


def format_ranges(view: dict) -> str:
    """The table of ``/v1/ranges``' rows, in the order given."""
    partitioners = {ks["name"]: ks.get("partitioner", "hash") for ks in view["keyspaces"]}
    header = ("Keyspace", "Range", "Bounds", "Replicas", "Keys", "Bytes", "Reads/s",
              "Writes/s")
    rows = [header]
    for r in view["ranges"]:
        rows.append((r["keyspace"], str(r["range_id"]),
                     readable_bounds(partitioners.get(r["keyspace"], "hash"), r["start"],
                                     r["end"]),
                     ",".join(r["replicas"]),
                     "?" if r["keys"] is None else str(r["keys"]), human_bytes(r["bytes"]),
                     _rate(r["reads_per_s"]), _rate(r["writes_per_s"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {1, 4, 5, 6, 7}  # numbers
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    missing = view.get("unanswered") or []
    notes = [f"Load: reads and writes per second over the last "
             f"{view.get('window_s', 60):g} s, summed over the nodes that coordinated "
             f"them; sizes: stored entries and bytes of the fullest replica, "
             f"counted every {view.get('size_interval_s', 30):g} s."]
    if missing:
        notes.append(f"Not answering (their figures are missing): {', '.join(missing)}")
    return "\n".join(lines + [""] + notes)
