"""``quorumkv keyspace create|list|describe|drop``: keyspaces online, through a
node's HTTP API (``/v1/keyspaces``), the first address of ``--http`` that answers.

``create`` sends the settings given as a JSON spec; the node validates it with
the same function as every front end (core.meta.spec) and proposes it to the
metadata group. ``drop`` deletes the keyspace's data on every node: it asks for
confirmation unless ``--yes``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from .status import Unreachable


class Refused(Exception):
    """The node answered 4xx: a bad setting, a name in use, an unknown keyspace."""


def call(bases: list[str], method: str, path: str, body=None, timeout: float = 10.0):
    """The JSON answer of the first address that answers ``method path``. A 4xx
    raises Refused with the node's error text; no answer raises Unreachable (a 5xx
    is tried on the next address: the metadata group may lack a leader there)."""
    data = None if body is None else json.dumps(body).encode()
    errors = []
    for base in bases:
        url = base + path
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            message = _error_text(exc)
            if 400 <= exc.code < 500:
                raise Refused(message) from None
            errors.append(f"{url}: HTTP {exc.code}: {message}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"cannot reach {url}: {getattr(exc, 'reason', exc)}")
    raise Unreachable("; ".join(errors))


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return json.loads(exc.read()).get("error", str(exc))
    except ValueError:
        return str(exc)


def spec_body(name: str, settings: dict) -> dict:
    """The JSON spec of the options given (those left out take the defaults)."""
    return {"name": name, **{k: v for k, v in settings.items() if v is not None}}


def keyspace_path(name: str | None = None) -> str:
    return "/v1/keyspaces" + ("" if name is None else "/" + urllib.parse.quote(name, safe=""))


def format_list(answer: dict) -> str:
    rows = [("NAME", "ID", "MODE", "PARTITIONER", "RF", "RANGES", "DB")]
    rows += [(k["name"], str(k["id"]), k["mode"], k["partitioner"],
              str(k["replication_factor"]), str(k["ranges"]),
              "-" if k["db"] is None else str(k["db"])) for k in answer["keyspaces"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def format_describe(d: dict) -> str:
    placement = (f"{len(d['ranges'])} ranges" if d["partitioner"] == "hash"
                 else f"split points {d.get('split_points', [])}")
    lines = [f"keyspace {d['name']} (id {d['id']}): {d['mode']}, {d['partitioner']}, "
             f"{placement}, replication factor {d['replication_factor']}, db "
             f"{'-' if d.get('db') is None else d['db']}, default consistency "
             f"{d['default_consistency']}"]
    for r in d["ranges"]:
        raft = r.get("raft")
        leader = f"  leader {raft['leader'] or '?'}" if raft else ""
        lines.append(f"  range {r['range_id']:>5} gen {r['generation']}  {r['bounds']}  "
                     f"replicas {','.join(r['replicas'])}{leader}")
    lines += [f"note: {n}" for n in d["notes"]]
    return "\n".join(lines)
