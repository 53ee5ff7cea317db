#!/usr/bin/env bash
# The systems of the strong-keyspace benchmark, on loopback: a 3-member etcd
# cluster, a 3-server ZooKeeper ensemble, and a 3-node QuorumKV cluster
# (`quorumkv cluster up` from .venv, with QKV_UP_ARGS added: the keyspace to
# measure). Sourced by bench/strong/run.sh; also runs alone and keeps one system
# up in the foreground until Ctrl-C:
#
#   bench/strong/peers.sh etcd | zookeeper | quorumkv
#
# Every process it starts it stops by pid on exit (also on failure and on Ctrl-C),
# and it removes the data directories. Durability: both as shipped, both fsync
# before they acknowledge a write — etcd fsyncs its WAL on every Raft Ready (3.4
# has no switch to turn that off); ZooKeeper's forceSync=yes (the default) fsyncs
# the transaction log before a server acks a proposal. QuorumKV: --fsync QKV_FSYNC
# (batch, the default: group commit, synced before the ack).
#
# env: STRONG_BASE (port base, 27000): etcd clients BASE+101..103, etcd peers
#      BASE+111..113, ZooKeeper clients BASE+201..203, quorum BASE+211..213,
#      election BASE+221..223; QuorumKV RESP BASE+301..303, HTTP BASE+401..403,
#      peers BASE+501..503; ETCD_DIR (/tmp/peers-etcd), ZK_DIR (/tmp/peers-zk),
#      QKV_DIR (/tmp/peers-qkv), ZK_HEAP (512m), QKV_FSYNC (batch), QKV_UP_ARGS.
# Needs: apt-get install etcd-server etcd-client zookeeper default-jre-headless
# (`make bench-deps`).
STRONG_BASE=${STRONG_BASE:-27000}
ETCD_DIR=${ETCD_DIR:-/tmp/peers-etcd}
ZK_DIR=${ZK_DIR:-/tmp/peers-zk}
QKV_DIR=${QKV_DIR:-/tmp/peers-qkv}
ZK_HEAP=${ZK_HEAP:-512m}
QKV_FSYNC=${QKV_FSYNC:-batch}
QKV_UP_ARGS=${QKV_UP_ARGS:-}
PEER_PIDS=()

stop_peers() {  # SIGTERM each process we started (SIGKILL after 30 s), wait; drop the data
  local pid _
  for pid in "${PEER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PEER_PIDS[@]}"; do
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PEER_PIDS=()
  rm -rf "$ETCD_DIR" "$ZK_DIR" "$QKV_DIR"
}
trap stop_peers EXIT
trap 'exit 130' INT TERM  # the EXIT trap then stops everything

etcd_endpoints() { echo "127.0.0.1:$((STRONG_BASE + 101)),127.0.0.1:$((STRONG_BASE + 102)),127.0.0.1:$((STRONG_BASE + 103))"; }
zk_endpoints() { echo "127.0.0.1:$((STRONG_BASE + 201)),127.0.0.1:$((STRONG_BASE + 202)),127.0.0.1:$((STRONG_BASE + 203))"; }
qkv_endpoints() { echo "127.0.0.1:$((STRONG_BASE + 301)),127.0.0.1:$((STRONG_BASE + 302)),127.0.0.1:$((STRONG_BASE + 303))"; }

kill_stale() {  # a run that was SIGKILLed left its pids in DIR/pids: stop those still ours
  local pid _
  [ -f "$1/pids" ] || return 0
  for pid in $(cat "$1/pids"); do
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$1" && kill -TERM "$pid"
  done
  for pid in $(cat "$1/pids"); do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
}

fresh_dir() {
  kill_stale "$1"
  rm -rf "$1"; mkdir -p "$1"
}

check_alive() {  # fail with the log if one of our processes died while starting
  local pid
  for pid in "${PEER_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null && continue
    echo "a peer process ($pid) exited while starting; logs in $1:" >&2
    tail -n 20 "$1"/*.log >&2
    exit 1
  done
}

start_etcd() {
  fresh_dir "$ETCD_DIR"
  local i cluster=""
  for i in 1 2 3; do cluster+="${cluster:+,}e$i=http://127.0.0.1:$((STRONG_BASE + 110 + i))"; done
  for i in 1 2 3; do
    local client="http://127.0.0.1:$((STRONG_BASE + 100 + i))" peer="http://127.0.0.1:$((STRONG_BASE + 110 + i))"
    etcd --name "e$i" --data-dir "$ETCD_DIR/e$i" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$cluster" --initial-cluster-state new \
      --initial-cluster-token qkv-strong-bench --logger zap --log-level warn \
      > "$ETCD_DIR/e$i.log" 2>&1 &
    PEER_PIDS+=($!); echo $! >> "$ETCD_DIR/pids"
  done
  local _
  for _ in $(seq 300); do  # up to 30 s for a leader and three healthy members
    ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoints)" --command-timeout 1s \
      endpoint health > /dev/null 2>&1 && { echo "etcd up: $(etcd_endpoints)"; return 0; }
    check_alive "$ETCD_DIR"
    sleep 0.1
  done
  echo "etcd did not become healthy within 30 s" >&2; tail -n 20 "$ETCD_DIR"/*.log >&2; exit 1
}

zk_mode() {  # the server's role from the `srvr` four-letter word, or nothing
  { ( exec 3<>"/dev/tcp/127.0.0.1/$1" && printf srvr >&3 && timeout 1 cat <&3 ) 2>/dev/null \
    | sed -n 's/^Mode: //p'; } || true  # refused while starting: no mode yet
}

start_zookeeper() {
  fresh_dir "$ZK_DIR"
  local i servers=""
  for i in 1 2 3; do
    servers+="server.$i=127.0.0.1:$((STRONG_BASE + 210 + i)):$((STRONG_BASE + 220 + i))"$'\n'
  done
  for i in 1 2 3; do
    mkdir -p "$ZK_DIR/z$i/data"
    echo "$i" > "$ZK_DIR/z$i/data/myid"
    # forceSync is left at its default (yes): the log is fsynced before an ack
    cat > "$ZK_DIR/z$i/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$ZK_DIR/z$i/data
clientPort=$((STRONG_BASE + 200 + i))
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr
$servers
EOF
    java "-Xmx$ZK_HEAP" "-Xms$ZK_HEAP" -Dzookeeper.jmx.log4j.disable=true \
      -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_DIR/z$i/zoo.cfg" \
      > "$ZK_DIR/z$i.log" 2>&1 &
    PEER_PIDS+=($!); echo $! >> "$ZK_DIR/pids"
  done
  local _ modes
  for _ in $(seq 600); do  # up to 60 s: three JVMs start and elect a leader
    modes=$(for i in 1 2 3; do zk_mode $((STRONG_BASE + 200 + i)); done | sort | tr '\n' ' ')
    [ "$modes" = "follower follower leader " ] && { echo "zookeeper up: $(zk_endpoints)"; return 0; }
    check_alive "$ZK_DIR"
    sleep 0.1
  done
  echo "zookeeper did not elect a leader within 60 s (modes: $modes)" >&2
  tail -n 20 "$ZK_DIR"/*.log >&2; exit 1
}

resp_ping() {  # PONG from a RESP server on 127.0.0.1:PORT, or nothing
  { ( exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && timeout 1 head -c 7 <&3 ) 2>/dev/null \
    | tr -d '\r\n+'; } || true
}

start_quorumkv() {  # run from the repository's root: it uses .venv/bin/quorumkv
  fresh_dir "$QKV_DIR"
  # shellcheck disable=SC2086  # QKV_UP_ARGS is a list of words
  .venv/bin/quorumkv cluster up --nodes 3 --data-dir "$QKV_DIR/data" --fsync "$QKV_FSYNC" \
    --resp-base $((STRONG_BASE + 300)) --http-base $((STRONG_BASE + 400)) \
    --peer-base $((STRONG_BASE + 500)) --log-level warning $QKV_UP_ARGS > "$QKV_DIR/cluster.log" 2>&1 &
  PEER_PIDS+=($!); echo $! >> "$QKV_DIR/pids"
  local _ i up
  for _ in $(seq 600); do  # up to 60 s for every node to answer PING
    up=0
    for i in 1 2 3; do [ "$(resp_ping $((STRONG_BASE + 300 + i)))" = PONG ] && up=$((up + 1)); done
    if [ "$up" = 3 ]; then  # then every strong range's first election (1-2 s)
      .venv/bin/python bench/strong/qkv_leaders.py $((STRONG_BASE + 401)) $((STRONG_BASE + 402)) \
        $((STRONG_BASE + 403)) || exit 1
      echo "quorumkv up: $(qkv_endpoints)"; return 0
    fi
    check_alive "$QKV_DIR"
    sleep 0.1
  done
  echo "quorumkv did not answer within 60 s" >&2; tail -n 20 "$QKV_DIR"/*.log >&2; exit 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run alone: one system in the foreground
  set -euo pipefail
  case "${1:-}" in
    etcd) start_etcd ;;
    zookeeper) start_zookeeper ;;
    quorumkv) cd "$(dirname "$0")/../.." && start_quorumkv ;;
    *) echo "usage: $0 etcd|zookeeper|quorumkv" >&2; exit 2 ;;
  esac
  echo "Ctrl-C stops it"
  wait
fi
