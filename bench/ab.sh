#!/usr/bin/env bash
# Paired A/B of two versions of QuorumKV on this machine (docs/benchmarks.md, fifth
# round): both clusters run at once, and short redis-benchmark runs alternate
# between them, so that the machine's drift over minutes hits both alike. The
# result is the median of the per-pair ratios B/A.
#
#   bench/ab.sh REV_A REV_B     git revisions (a branch, a commit, or WORKTREE for
#                               the tracked files of the working tree as they are)
#   env: PAIRS (16), N (30000 requests per run), TEST (set | get), FSYNC (periodic)
#
# Each revision is exported into a temporary directory and compiled there
# (python -m quorumkv.build_accel; a minute or two), then run from .venv with
# PYTHONPATH pointing at it. Uses ports 27379-27381, 28079-28081, 29079-29081 (A)
# and 37379-37381, 38079-38081, 39079-39081 (B) on 127.0.0.1; stops everything it
# starts, by pid, on exit. Same code on both sides gives the noise: 16 pairs gave
# a median of 0.988 and single pairs of 0.90-1.07 (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
[ $# -eq 2 ] || { sed -n '2,16p' "$0"; exit 2; }
PAIRS=${PAIRS:-16} N=${N:-30000} TEST=${TEST:-set} FSYNC=${FSYNC:-periodic}
WORK=$(mktemp -d /tmp/qkv-ab.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

tree() {  # tree REV DIR: the sources of REV in DIR, compiled
  mkdir -p "$2"
  if [ "$1" = WORKTREE ]; then
    git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$2"
  else
    git archive "$1" | tar -x -C "$2"
  fi
  (cd "$2" && "$ROOT/.venv/bin/python" -m quorumkv.build_accel > "$2/build.log" 2>&1) \
    || { echo "build of $1 failed:"; cat "$2/build.log"; return 1; }
  echo "$1: $(tail -1 "$2/build.log")"
}

up() {  # up DIR PORT_BASE: a 3-node cluster from DIR's sources, RESP on PORT_BASE+1..3
  PYTHONPATH="$1" .venv/bin/python -m quorumkv cluster up --nodes 3 --data-dir "$1/data" \
    --fsync "$FSYNC" --resp-base "$2" --http-base $(($2 + 700)) --peer-base $(($2 + 1700)) \
    --log-level warning > "$1/cluster.log" 2>&1 &
  PIDS+=($!)
}

rb() {  # rb PORT TEST N: requests per second
  redis-benchmark -p "$1" -t "$2" -n "$3" -c 32 -P 1 -r 100000 -d 100 -q 2>/dev/null \
    | tr '\r' '\n' | awk '/requests per second/ {print $2}'
}

tree "$1" "$WORK/a" & build_a=$!  # the two builds share the two cores
tree "$2" "$WORK/b" & build_b=$!
wait "$build_a" && wait "$build_b"
up "$WORK/a" 27378
up "$WORK/b" 37378
for _ in $(seq 300); do  # every node must answer: redis-benchmark spins on a refused connect
  n=0
  for p in 27379 27380 27381 37379 37380 37381; do
    redis-cli -p "$p" ping 2>/dev/null | grep -q PONG && n=$((n + 1))
  done
  [ "$n" = 6 ] && break
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "a cluster failed to start"; exit 1; }; done
  sleep 0.1
done
rb 27379 set 100000 > /dev/null  # the same keys in both before measuring
rb 37379 set 100000 > /dev/null
pairs=()
for i in $(seq "$PAIRS"); do  # alternate which one goes first
  if [ $((i % 2)) = 1 ]; then a=$(rb 27379 "$TEST" "$N"); b=$(rb 37379 "$TEST" "$N")
  else b=$(rb 37379 "$TEST" "$N"); a=$(rb 27379 "$TEST" "$N"); fi
  pairs+=("$a:$b")
done
python3 - "$1" "$2" "$TEST" "${pairs[@]}" <<'PY'
import statistics, sys
rev_a, rev_b, test, *raw = sys.argv[1:]
pairs = [tuple(map(float, p.split(":"))) for p in raw]
ratios = [b / a for a, b in pairs]
print(f"{test.upper()} requests/s, A = {rev_a}:", " ".join(f"{a:.0f}" for a, _ in pairs))
print(f"{test.upper()} requests/s, B = {rev_b}:", " ".join(f"{b:.0f}" for _, b in pairs))
print(f"B/A median {statistics.median(ratios):.3f}, mean {statistics.mean(ratios):.3f}, "
      f"range {min(ratios):.3f}-{max(ratios):.3f}, B faster in {sum(r > 1 for r in ratios)} "
      f"of {len(ratios)} pairs")
PY
