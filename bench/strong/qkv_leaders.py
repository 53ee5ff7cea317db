"""Wait until every range of every strong keyspace has a leader, as each node sees it.

    .venv/bin/python bench/strong/qkv_leaders.py HTTP_PORT [HTTP_PORT ...] [--timeout S]

A fresh cluster answers PING before its Raft groups have elected (an election
timeout is 1-2 s): a load started then would see its first requests time out.
Exit status 0 once every node's ``/v1/keyspaces/NAME`` names a leader for each
strong range, 1 after ``--timeout`` seconds (default 60), saying which lack one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request

POLL_S = 0.2


def get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
        return json.load(reply)


def leaderless(port: int) -> list[str]:
    """``keyspace/range`` of each strong range this node knows no leader of."""
    missing = []
    for ks in get(port, "/v1/keyspaces")["keyspaces"]:
        if ks["mode"] != "strong":
            continue
        for rng in get(port, f"/v1/keyspaces/{ks['name']}")["ranges"]:
            if not (rng.get("raft") or {}).get("leader"):
                missing.append(f"{ks['name']}/{rng['range_id']}")
    return missing


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ports", type=int, nargs="+")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    missing: dict[int, list[str]] = {}
    while time.monotonic() < deadline:
        try:
            missing = {port: leaderless(port) for port in args.ports}
        except OSError as exc:  # a node not answering HTTP yet
            missing = {0: [str(exc)]}
        if not any(missing.values()):
            return 0
        time.sleep(POLL_S)
    print(f"no leader within {args.timeout:.0f} s: {missing}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
