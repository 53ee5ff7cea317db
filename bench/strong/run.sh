#!/usr/bin/env bash
# The strong-keyspace benchmark's peers, one after the other in one session: start a
# system (bench/strong/peers.sh), run bench/strong/load.py against it, stop it.
#
#   bench/strong/run.sh [etcd] [zookeeper] [quorumkv]     (default: etcd zookeeper)
#
# env: LOAD_ARGS  passed to every load.py run (e.g. "--seconds 5 --warmup 1");
#                 the defaults are 32 clients, 100,000 keys, 100-byte values,
#                 1,000 counters, 2 s warm-up, then 200,000 ops or 10 s per workload
#      PROCS      load processes (1); PROCS="1 2 1" runs each system three times, to
#                 see whether the client was the bottleneck
#      SYSTEM_WARMUP  seconds per workload of a first, unrecorded run on each system
#                 (30; 0 skips it): ZooKeeper's JVMs run at a fraction of their speed
#                 for the first minute, and the same run is given to every system
#      OUT        a directory for one JSON file of figures per run (none by default)
#      QKV_KEYSPACE   the keyspace the `quorumkv` target measures (QKV.USE)
#      QKV_UP_ARGS    more `quorumkv cluster up` options: how that keyspace is
#                 declared (see peers.sh; QKV_FSYNC, batch by default)
#      QKV_ENDPOINTS  a QuorumKV cluster that is already running: its RESP
#                 addresses (then none is started)
# Needs `make bench-deps`. Ports from STRONG_BASE (27000, see peers.sh); every
# process it starts it stops by pid on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/strong/peers.sh
PROCS=${PROCS:-1}
SYSTEM_WARMUP=${SYSTEM_WARMUP:-30}
LOAD_ARGS=${LOAD_ARGS:-}
OUT=${OUT:-}
[ -n "$OUT" ] && mkdir -p "$OUT"
[ $# -gt 0 ] || set -- etcd zookeeper

load() {  # TARGET ENDPOINTS [load.py args]: once per PROCS value, the first run preloads
  local target=$1 endpoints=$2 procs preload=""
  shift 2
  if [ "$SYSTEM_WARMUP" != 0 ]; then
    echo "-- $target: warm-up run, ${SYSTEM_WARMUP} s per workload, not recorded"
    # shellcheck disable=SC2086
    .venv/bin/python bench/strong/load.py --target "$target" --endpoints "$endpoints" "$@" \
      $LOAD_ARGS --seconds "$SYSTEM_WARMUP" --warmup 0 > /dev/null
    preload=--no-preload
  fi
  for procs in $PROCS; do
    echo "-- $target, $procs load process(es), $(date -u +%H:%M:%S) UTC"
    # shellcheck disable=SC2086  # LOAD_ARGS is a list of words
    .venv/bin/python bench/strong/load.py --target "$target" --endpoints "$endpoints" \
      --procs "$procs" $preload ${OUT:+--json "$OUT/$target-procs$procs.json"} "$@" $LOAD_ARGS
    preload=--no-preload
  done
}

echo "== $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(etcd --version | head -1), ZooKeeper $(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null)," \
  "$(java -version 2>&1 | head -1), Python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])')"
for system in "$@"; do
  case "$system" in
    etcd)
      start_etcd
      load etcd "$(etcd_endpoints)"
      stop_peers ;;
    zookeeper)
      start_zookeeper
      load zookeeper "$(zk_endpoints)"
      stop_peers ;;
    quorumkv)
      [ -n "${QKV_ENDPOINTS:-}" ] || start_quorumkv
      load quorumkv "${QKV_ENDPOINTS:-$(qkv_endpoints)}" ${QKV_KEYSPACE:+--keyspace "$QKV_KEYSPACE"}
      stop_peers ;;
    *) echo "unknown system $system (etcd, zookeeper, quorumkv)" >&2; exit 2 ;;
  esac
done
