#!/usr/bin/env bash
# Side-by-side benchmark: redis-server vs one node of a 3-node QuorumKV cluster,
# in one session on one machine (see docs/benchmarks.md for recorded figures).
#
#   bench/compare.sh [fsync]        fsync: batch (default) | periodic | always
#   env: N (redis-benchmark requests, 200000), ROUNDS (3), BENCH_REQUESTS (100000)
#
# Needs redis-server and redis-benchmark (apt-get install redis-server redis-tools)
# and `make install` (or .venv with the package). Uses ports 16379 and
# 17379-17381 / 18079-18081 / 19079-19081 on 127.0.0.1 and a temporary data
# directory; stops everything it starts, by pid, on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
FSYNC=${1:-batch}
N=${N:-200000}
BENCH_REQUESTS=${BENCH_REQUESTS:-100000}
ROUNDS=${ROUNDS:-3}
. bench/servers.sh

rb() {  # redis-benchmark's summary lines for SET and GET
  redis-benchmark -p "$1" -t set,get -n "$N" -c 32 -P 1 -r 100000 -d 100 -q 2>/dev/null \
    | tr '\r' '\n' | grep "requests per second"
}

print_machine

echo "== redis-server (appendonly yes, appendfsync everysec) and QuorumKV (3 nodes, RF 3,"
echo "   QUORUM, fsync $FSYNC, load on node 1), alternating for $ROUNDS rounds"
start_servers "$FSYNC"
# The machine's speed drifts over minutes: each round runs redis-server, QuorumKV,
# redis-server back to back, and the round's ratio is QuorumKV over the mean of the
# two redis-server runs around it.
r_after=$(rb 16379)
for round in $(seq "$ROUNDS"); do
  r_before=$r_after; q=$(rb 17379); r_after=$(rb 16379)
  echo "-- round $round"
  echo "redis-server  $(echo "$r_before" | tr '\n' ' ')"
  echo "QuorumKV      $(echo "$q" | tr '\n' ' ')"
  echo "redis-server  $(echo "$r_after" | tr '\n' ' ')"
  python3 - "$r_before" "$q" "$r_after" <<'PY'
import re, sys
def rps(text):
    return {m[0]: float(m[1]) for m in re.findall(r"(SET|GET): ([0-9.]+) requests per second", text)}
before, q, after = (rps(a) for a in sys.argv[1:4])
print("ratio         " + "  ".join(f"{op} {q[op] / ((before[op] + after[op]) / 2):.3f}"
                                   for op in ("SET", "GET") if op in q and op in before and op in after))
PY
done
echo "-- quorumkv bench: 100% writes"
.venv/bin/quorumkv bench --port 17379 --clients 32 --keys 100000 --value-size 100 \
  --requests "$BENCH_REQUESTS" --read-ratio 0 --consistency quorum
echo "-- quorumkv bench: 90% reads / 10% writes"
.venv/bin/quorumkv bench --port 17379 --clients 32 --keys 100000 --value-size 100 \
  --requests "$BENCH_REQUESTS" --read-ratio 0.9 --consistency quorum --preload
