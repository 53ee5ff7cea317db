# Sourced by bench/compare.sh and bench/pipeline.sh: redis-server on 127.0.0.1:16379
# and a 3-node QuorumKV cluster (RESP 17379-17381, HTTP 18079-18081, peers
# 19079-19081), in a temporary directory, both stopped by pid on exit.
#   start_servers FSYNC    start both and wait until every one answers PING
#   print_machine          the machine and the versions, for the record
WORK=$(mktemp -d /tmp/qkv-bench.XXXXXX)
REDIS_PID= CLUSTER_PID=
cleanup() {
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null || true
  [ -n "$CLUSTER_PID" ] && kill -TERM "$CLUSTER_PID" 2>/dev/null && wait "$CLUSTER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

print_machine() {
  echo "== machine"
  echo "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "$(redis-server --version | cut -d' ' -f1-3), Python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])'), $(git rev-parse --short HEAD 2>/dev/null)"
}

start_servers() {
  redis-server --port 16379 --bind 127.0.0.1 --appendonly yes --appendfsync everysec \
    --save "" --dir "$WORK" --logfile "$WORK/redis.log" &
  REDIS_PID=$!
  .venv/bin/quorumkv cluster up --nodes 3 --data-dir "$WORK/qkv" --fsync "$1" \
    --resp-base 17378 --http-base 18078 --peer-base 19078 --log-level warning > "$WORK/cluster.log" 2>&1 &
  CLUSTER_PID=$!
  for _ in $(seq 300); do  # every node must answer: redis-benchmark spins on a refused connect
    { redis-cli -p 16379 ping; redis-cli -p 17379 ping; redis-cli -p 17380 ping; redis-cli -p 17381 ping; } 2>/dev/null \
      | grep -c PONG | grep -q 4 && return 0
    kill -0 "$CLUSTER_PID" 2>/dev/null || { echo "cluster failed to start:"; cat "$WORK/cluster.log"; exit 1; }
    sleep 0.1
  done
  echo "the servers did not answer within 30 s"; exit 1
}
