#!/usr/bin/env bash
# Pipelining on one connection and on many: redis-server vs node 1 of a 3-node
# QuorumKV cluster (RF 3, QUORUM), in one session on one machine, alternating
# (docs/benchmarks.md, "Pipelining").
#
#   bench/pipeline.sh [fsync]      fsync: batch (default) | periodic | always
#   env: N1 (requests for -c 1 runs, 20000), N32 (for -c 32 runs, 200000),
#        PIPE (SETs fed to redis-cli --pipe, 100000)
#
# Needs redis-server, redis-benchmark and redis-cli, and `make install` (.venv).
# Uses ports 16379 and 17379-17381 / 18079-18081 / 19079-19081 on 127.0.0.1 and a
# temporary data directory; stops everything it starts, by pid, on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
FSYNC=${1:-batch}
N1=${N1:-20000} N32=${N32:-200000} PIPE=${PIPE:-100000}
. bench/servers.sh

rb() {  # rb PORT CLIENTS PIPELINE REQUESTS: "SET <rps> GET <rps>"
  redis-benchmark -p "$1" -t set,get -n "$4" -c "$2" -P "$3" -r 100000 -d 100 -q 2>/dev/null \
    | tr '\r' '\n' | grep "requests per second" | sed -E 's/^([A-Z]+): ([0-9.]+) requests.*/\1 \2/' \
    | tr '\n' ' '
}

pipe_s() {  # pipe_s PORT: seconds for redis-cli --pipe to send $PIPE SETs and get the replies
  local t0 t1
  t0=$(date +%s.%N)
  redis-cli -p "$1" --pipe < "$WORK/pipe.txt" > "$WORK/pipe.out" 2>&1
  t1=$(date +%s.%N)
  grep -q "errors: 0, replies: $PIPE" "$WORK/pipe.out" || { cat "$WORK/pipe.out"; exit 1; }
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

print_machine
python3 - "$PIPE" > "$WORK/pipe.txt" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    k, v = b"pipe:%d" % i, b"v%d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY

start_servers "$FSYNC"
echo "== redis-benchmark -t set,get -r 100000 -d 100, requests per second (fsync $FSYNC)"
printf "%-22s %-34s %-34s\n" run redis-server QuorumKV
for spec in "1 1 $N1" "1 16 $N1" "32 1 $N32" "32 16 $N32"; do
  set -- $spec
  r=$(rb 16379 "$1" "$2" "$3"); q=$(rb 17379 "$1" "$2" "$3")
  printf "%-22s %-34s %-34s\n" "-c $1 -P $2 -n $3" "$r" "$q"
done
echo "== redis-cli --pipe of $PIPE SETs, seconds"
echo "redis-server  $(pipe_s 16379)"
echo "QuorumKV      $(pipe_s 17379)"
