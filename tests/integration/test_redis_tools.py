"""The commands Redis's own tools read (COMMAND, CONFIG, INFO, SLOWLOG, MONITOR,
CLIENT, AUTH/HELLO, TIME), against a real redis-server byte for byte where the
answer does not depend on the server's state, and with redis-cli's tools."""

import os
import re
import socket
import subprocess
import time

import hiredis
import pytest
import redis

from quorumkv.api.resp import COMMANDS


MARK = b"--end-of-reply--"
MARK_REPLY = b"$%d\r\n%s\r\n" % (len(MARK), MARK)


def encode(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Raw:
    """One connection that sends a command and returns its reply's exact bytes
    (each command is followed by an ECHO whose known reply marks the end)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def __call__(self, *args) -> bytes:
        self.sock.sendall(encode(*args) + encode(b"ECHO", MARK))
        return self.read_until(MARK_REPLY)[:-len(MARK_REPLY)]

    def read_until(self, end: bytes) -> bytes:
        out = b""
        while not out.endswith(end):
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError(f"closed after {out[-200:]!r}")
            out += chunk
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def ours(cluster):
    raw = Raw(cluster.address("n1").resp_port)
    yield raw
    raw.close()


@pytest.fixture
def theirs(redis_server):
    raw = Raw(redis_server)
    yield raw
    raw.close()


SAME_AS_REDIS = [
    "COMMAND COUNT x", "COMMAND FOO", "COMMAND INFO nosuch", "COMMAND GETKEYS get a",
    "COMMAND GETKEYS get", "COMMAND GETKEYS ping x", "COMMAND GETKEYS nosuch a",
    "COMMAND GETKEYS set a", "COMMAND GETKEYS mset a b c d", "COMMAND GETKEYS GET a b",
    "COMMAND LIST foo", "COMMAND LIST FILTERBY foo x", "COMMAND LIST FILTERBY module x",
    "COMMAND DOCS nosuch", "COMMAND DOCS get", "COMMAND DOCS mget get",
    "CONFIG SET nosuch 1", "CONFIG SET maxclients abc", "CONFIG SET slowlog-max-len -1",
    "CONFIG SET slowlog-log-slower-than abc", "CONFIG SET slowlog-log-slower-than -5",
    "CONFIG SET maxclients 10 maxclients 20", "CONFIG SET maxclients",
    "CONFIG SET maxclients 10 slowlog-max-len", "CONFIG SET maxclients 10 nosuch 5",
    "CONFIG RESETSTAT x", "CONFIG FOO", "CONFIG", "CONFIG GET", "CONFIG GET nosuch*",
    "CONFIG GET save",
    "SLOWLOG HELP", "SLOWLOG GET -2", "SLOWLOG GET abc", "SLOWLOG GET 1 2", "SLOWLOG FOO",
    "SLOWLOG", "SLOWLOG LEN x",
    "CLIENT SETNAME a\tb", "CLIENT SETNAME a\nb", "CLIENT SETNAME ok-name", "CLIENT GETNAME",
    "CLIENT LIST TYPE foo", "CLIENT LIST ID 1 abc", "CLIENT LIST ID 99999",
    "CLIENT LIST TYPE pubsub", "CLIENT LIST foo", "CLIENT NO-EVICT on",
    "CLIENT NO-EVICT maybe", "CLIENT NO-EVICT", "CLIENT REPLY foo", "CLIENT REPLY",
    "CLIENT KILL", "CLIENT KILL 1.2.3.4:5", "CLIENT KILL ID 999999", "CLIENT KILL ID abc",
    "CLIENT KILL FOO bar", "CLIENT KILL ADDR 1.2.3.4:5", "CLIENT KILL SKIPME maybe",
    "CLIENT KILL LADDR 1.2.3.4:5 SKIPME no", "CLIENT KILL ID 1 SKIPME",
    "CLIENT KILL TYPE foo", "CLIENT KILL TYPE pubsub", "CLIENT KILL USER nobody",
    "CLIENT FOO", "CLIENT INFO x", "CLIENT ID x",
    "AUTH x", "AUTH default x", "AUTH a b c", "AUTH foo bar", "HELLO 3 AUTH foo x",
    "HELLO 2 SETNAME a\x01b", "HELLO 2 AUTH default", "HELLO 4", "HELLO abc",
    "HELLO 2 FOO", "TIME x", "MONITOR x", "ECHO",
]


@pytest.mark.parametrize("line", SAME_AS_REDIS)
def test_reply_is_redis_7s_byte_for_byte(ours, theirs, line):
    args = line.split(" ")
    assert ours(*args) == theirs(*args)


def _info_fields(raw: Raw, name: str) -> list:
    reader = hiredis.Reader()
    reader.feed(raw("COMMAND", "INFO", name))
    return reader.gets()[0]


# a container's flags are its subcommands' in Redis 7; theirs list more subcommands
CONTAINER_NAMES = {"client", "command", "config", "slowlog", "object", "memory"}


@pytest.mark.parametrize("name", sorted(n.lower() for n in COMMANDS
                                        if not n.startswith("QKV.")))
def test_command_info_is_redis_7s(ours, theirs, name):
    mine, real = _info_fields(ours, name), _info_fields(theirs, name)
    assert real is not None, f"{name} is not a Redis 7 command"
    if name not in CONTAINER_NAMES:
        assert mine == real
        return
    assert mine[:9] == real[:9]
    theirs_by_name = {sub[0]: sub for sub in real[9]}
    for sub in mine[9]:
        if sub[0] != b"client|setinfo":  # Redis 7.2: not in the 7.0 reference
            assert sub == theirs_by_name[sub[0]]


def test_client_reply_off_skip_on_as_redis(ours, theirs):
    pipeline = b"".join([
        encode("SET", "reply:k", "1"), encode("CLIENT", "REPLY", "OFF"),
        encode("SET", "reply:k", "2"), encode("GET", "reply:k"), encode("NOSUCH"),
        encode("CLIENT", "REPLY", "ON"), encode("GET", "reply:k"),
        encode("CLIENT", "REPLY", "SKIP"), encode("GET", "reply:k"), encode("PING")])
    answers = []
    for raw in (ours, theirs):
        raw.sock.sendall(pipeline)
        answers.append(raw.read_until(b"+PONG\r\n"))
    assert answers[0] == answers[1] == b"+OK\r\n+OK\r\n$1\r\n2\r\n+PONG\r\n"


def test_slowlog_entries_as_redis(ours, theirs):
    mset = ["MSET"] + [f"slow:{i}" for i in range(45)] + ["v" * 200]
    entries = []
    for raw in (ours, theirs):
        assert raw("CLIENT", "SETNAME", "slow-one") == b"+OK\r\n"
        assert raw("CONFIG", "SET", "slowlog-log-slower-than", "0") == b"+OK\r\n"
        try:
            assert raw("SLOWLOG", "RESET") == b"+OK\r\n"
            assert raw(*mset) == b"+OK\r\n"
            reader = hiredis.Reader()
            reader.feed(raw("SLOWLOG", "GET", "2"))  # the ECHO after the MSET, the MSET
            entries.append((reader.gets()[1], raw("SLOWLOG", "LEN")))
        finally:
            raw("CONFIG", "SET", "slowlog-log-slower-than", "10000")
    (mine, mine_len), (real, real_len) = entries
    assert mine_len == real_len == b":6\r\n"  # RESET, MSET, SLOWLOG GET and their ECHOs
    assert mine[3] == real[3]  # the arguments, truncated the same way
    assert mine[3][-1] == b"... (16 more arguments)"  # 47 arguments, 31 shown
    assert mine[5] == real[5] == b"slow-one"
    assert re.fullmatch(rb"127\.0\.0\.1:\d+", mine[4])
    assert abs(mine[1] - time.time()) < 60 and mine[2] >= 0


def test_slowlog_honours_its_settings(cluster):
    r = cluster.redis("n2")
    try:
        r.config_set("slowlog-log-slower-than", 0)
        r.config_set("slowlog-max-len", 3)
        r.slowlog_reset()
        for i in range(10):
            r.set(f"sl:{i}", i)
        log = r.slowlog_get(-1)
        assert len(log) == 3 and r.slowlog_len() == 3
        assert [e["command"] for e in log] == [b"SET sl:9 9", b"SET sl:8 8", b"SET sl:7 7"]
        r.config_set("slowlog-log-slower-than", -1)
        r.slowlog_reset()
        r.set("sl:x", 1)
        assert r.slowlog_len() == 0
    finally:
        r.config_set("slowlog-log-slower-than", 10000)
        r.config_set("slowlog-max-len", 128)


def test_config_get_answers_what_the_node_has(cluster):
    r = cluster.redis("n1")
    a = cluster.address("n1")
    got = r.config_get("*")
    assert got["quorumkv.node.fsync"] == "batch" == cluster_setting(cluster, "fsync")
    assert got["appendfsync"] == "always"  # batch: acknowledged after the WAL sync
    assert got["port"] == str(a.resp_port) and got["bind"] == a.host
    assert got["proto-max-bulk-len"] == str(8 * 1024 * 1024)
    assert got["quorumkv.cluster.replication_factor"] == "3"
    assert got["maxclients"] == got["quorumkv.node.max_clients"] == "10000"
    assert os.path.isabs(got["dir"]) and got["dir"].endswith("n1")
    assert r.config_get("slowlog*") == {"slowlog-log-slower-than": "10000",
                                        "slowlog-max-len": "128"}


def cluster_setting(cluster, key: str) -> str:
    with open(cluster.config_path) as f:
        return re.search(rf'^{key} = "?([^"\n]*)"?$', f.read(), re.M).group(1)


def test_config_set_changes_the_running_node(cluster):
    r = cluster.redis("n3", single_connection_client=True)
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.config_set("quorumkv.node.fsync", "always")
    with pytest.raises(redis.ResponseError, match="must be one of the following: one, two"):
        r.config_set("quorumkv.cluster.default_consistency", "any")
    try:
        r.config_set("quorumkv.cluster.default_consistency", "one")
        fresh = cluster.redis("n3", single_connection_client=True)
        assert fresh.execute_command("QKV.CONSISTENCY") == b"ONE"
        assert r.execute_command("QKV.CONSISTENCY") == b"QUORUM"  # set at connect
        r.config_set("quorumkv.node.log_level", "debug")
        assert r.config_get("quorumkv.node.log_level") == {"quorumkv.node.log_level": "debug"}
        before = r.info("stats")["rejected_connections"]
        r.config_set("maxclients", r.info("clients")["connected_clients"])
        a = cluster.address("n3")
        with socket.create_connection((a.host, a.resp_port), timeout=10) as extra:
            refused = b""
            while chunk := extra.recv(4096):
                refused += chunk
        assert refused == b"-ERR max number of clients reached\r\n"
        assert r.info("stats")["rejected_connections"] == before + 1
    finally:
        r.config_set("maxclients", 10000, )
        r.config_set("quorumkv.cluster.default_consistency", "quorum")
        r.config_set("quorumkv.node.log_level", "info")
    assert cluster.redis("n3").ping()


def test_monitor_shows_commands_as_redis_and_hides_passwords(cluster):
    a = cluster.address("n2")
    mon = Raw(a.resp_port)
    try:
        mon.sock.sendall(encode("MONITOR"))
        assert mon.read_until(b"\r\n") == b"+OK\r\n"
        r = cluster.redis("n2", single_connection_client=True)
        r.set("mon key", 'x"y\\\n')
        assert r.execute_command("AUTH", "default", "secret")
        r.config_get("port")  # admin commands are not shown, as in Redis
        r.get("mon:last")
        lines = mon.read_until(b'"mon:last"\r\n').decode().split("\r\n")[:-1]
        me = r.client_info()
        addr = f"{me['addr']}"
        pattern = r'\+\d+\.\d{6} \[0 ' + re.escape(addr) + r'\] '
        assert [re.sub(pattern, "", line) for line in lines][-3:] == [
            '"SET" "mon key" "x\\"y\\\\\\n"', '"AUTH" "(redacted)" "(redacted)"',
            '"GET" "mon:last"']
        assert "secret" not in " ".join(lines)
        assert all(re.match(pattern, line) for line in lines[-3:])
    finally:
        mon.close()


def test_a_monitor_that_does_not_read_is_dropped(cluster):
    a = cluster.address("n3")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect((a.host, a.resp_port))
    sock.sendall(encode("MONITOR"))
    r = cluster.redis("n3")
    value = b"m" * 60_000
    pipe = r.pipeline(transaction=False)
    for i in range(150):  # 9 MB of monitor lines, far over the backlog bound
        pipe.set(f"flood:{i % 10}", value)
    pipe.execute()
    received = b""
    while True:  # the node flushes what it had, then closes
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        received += chunk
    sock.close()
    assert received.startswith(b"+OK\r\n")
    assert received.endswith(b"-ERR MONITOR client dropped: more than 1048576 bytes "
                             b"not read\r\n")
    assert len(received) < 6_000_000
    assert r.info("clients")["monitor_clients"] == 0
    assert r.get("flood:0") == value


def test_client_list_info_and_kill(cluster):
    r = cluster.redis("n1", single_connection_client=True)
    other = Raw(cluster.address("n1").resp_port)  # no client library reconnecting
    r.client_setname("lister")
    assert other("CLIENT", "SETNAME", "victim") == b"+OK\r\n"
    assert other("CLIENT", "SETINFO", "lib-x", "1") == b"-ERR Unrecognized option 'lib-x'\r\n"
    assert other("CLIENT", "SETINFO", "lib-ver", "1 0") == (
        b"-ERR lib-ver cannot contain spaces, newlines or special characters.\r\n")
    assert other("CLIENT", "SETINFO", "LIB-NAME", "tool") == b"+OK\r\n"
    clients = {c["name"]: c for c in r.client_list()}
    me, victim = clients["lister"], clients["victim"]
    assert me["cmd"] == "client|list" and victim["cmd"] == "echo"
    assert victim["lib-name"] == "tool" and victim["flags"] == "N"
    assert int(me["age"]) >= 0 and int(victim["idle"]) >= 0 and int(me["fd"]) > 0
    assert me["laddr"] == f"127.0.0.1:{cluster.address('n1').resp_port}"
    assert [c["name"] for c in r.client_list(client_id=[victim["id"]])] == ["victim"]
    info = r.client_info()
    assert str(info["id"]) == me["id"] and info["cmd"] == "client|info"
    assert r.client_kill_filter(_id=victim["id"]) == 1
    assert other.sock.recv(100) == b""  # closed by the node
    other.close()
    assert r.client_kill_filter(_id=me["id"]) == 0  # SKIPME yes by default
    assert r.ping()
    third = cluster.redis("n1", single_connection_client=True)
    third.ping()
    addr = [c["addr"] for c in r.client_list() if c["id"] != me["id"]]
    assert r.client_kill(addr[0]) is True
    assert r.execute_command("CLIENT", "NO-EVICT", "on")
    assert "e" in r.client_info()["flags"]


def test_client_kill_skipme_no_closes_the_caller_after_its_reply(cluster):
    r = Raw(cluster.address("n2").resp_port)
    try:
        r.sock.sendall(encode("CLIENT", "KILL", "LADDR",
                              f"127.0.0.1:{cluster.address('n2').resp_port}",
                              "SKIPME", "no") + encode("PING"))
        out = b""
        while chunk := r.sock.recv(65536):
            out += chunk
        assert out.startswith(b":") and b"PONG" not in out
    finally:
        r.close()
    assert cluster.redis("n2").ping()


def test_info_has_real_figures(cluster):
    r = cluster.redis("n1", single_connection_client=True)
    r.mset({f"info:{i}": "x" for i in range(20)})
    info = r.info("everything")
    assert info["used_memory"] > 10 * 1024 * 1024 and info["used_memory_human"].endswith("M")
    assert info["connected_clients"] >= 1 and info["blocked_clients"] == 0
    assert info["total_connections_received"] >= info["connected_clients"]
    assert info["used_cpu_user"] > 0 and info["used_cpu_sys"] >= 0
    assert info["db0"]["keys"] >= 20 and info["quorumkv_keys_estimated"] == 1
    assert info["process_id"] > 0 and info["uptime_in_seconds"] >= 0
    assert info["role"] == "master" and info["cluster_enabled"] == 0
    assert info["aof_enabled"] == 1 and info["quorumkv_fsync"] == "batch"
    r.config_resetstat()
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.get(f"info:{i % 20}")
    pipe.execute()
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")
    stats = r.info("commandstats")
    assert stats["cmdstat_get"]["calls"] == 201 and stats["cmdstat_get"]["failed_calls"] == 1
    assert stats["cmdstat_get"]["usec"] > 0
    assert "cmdstat_mset" not in stats  # before the reset
    now = r.info("stats")
    assert now["total_commands_processed"] >= 202
    assert now["instantaneous_ops_per_sec"] > 0
    assert now["total_net_input_bytes"] > 200 * 20 and now["total_net_output_bytes"] > 200 * 5


def test_time_is_the_nodes_clock(cluster):
    seconds, micros = cluster.redis("n2").time()
    assert abs(seconds + micros / 1e6 - time.time()) < 5 and 0 <= micros < 1_000_000


def test_redis_py_reads_command_info_and_getkeys(cluster):
    r = cluster.redis("n1")
    info = r.command()  # COMMAND, parsed by redis-py
    assert info["get"]["flags"] == ["readonly", "fast"]
    assert info["mset"]["step_count"] == 2 and info["mset"]["last_key_pos"] == -1
    assert "@string" in info["set"]["acl_categories"]
    assert [k if isinstance(k, str) else k.decode()
            for k in r.command_getkeys("MSET", "a", "1", "b", "2")] == ["a", "b"]
    raw = Raw(cluster.address("n1").resp_port)
    reader = hiredis.Reader()
    reader.feed(raw("COMMAND", "DOCS", "qkv.consistency"))
    raw.close()
    name, docs = reader.gets()
    assert name == b"qkv.consistency" and b"consistency level" in docs[1]


def test_hello_checks_its_options_before_changing_anything(cluster):
    r = Raw(cluster.address("n3").resp_port)
    try:
        assert r("HELLO", "3", "SETNAME", "bad name").startswith(b"-ERR Client names")
        assert r("PING") == b"+PONG\r\n"  # still RESP2, no name set
        assert r("CLIENT", "GETNAME") == b"$-1\r\n"
        assert r("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "good").startswith(b"%7")
        assert r("CLIENT", "GETNAME") == b"$4\r\ngood\r\n"
    finally:
        r.close()


def run_cli(redis_cli, port: int, *args, timeout: float = 20) -> str:
    return subprocess.run([redis_cli, "-p", str(port), *args], capture_output=True,
                          text=True, timeout=timeout).stdout


def test_redis_cli_stat_shows_real_columns(cluster, redis_cli):
    port = cluster.address("n1").resp_port
    cluster.redis("n1").mset({f"stat:{i}": i for i in range(10)})
    out = subprocess.run(["timeout", "1.5", "stdbuf", "-o0", redis_cli, "-p", str(port),
                          "--stat", "-i", "0.2"], capture_output=True, text=True).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    assert len(rows) >= 2, out
    for keys, mem, clients, blocked, requests, *rest in rows:
        assert int(keys) >= 10 and re.fullmatch(r"[\d.]+[KMG]", mem)
        assert int(clients) >= 1 and blocked == "0" and int(requests) > 0
        assert int(rest[-1]) >= int(clients)  # connections received
    assert "-9223372036854775808" not in out


def test_redis_cli_latency_and_scan(cluster, redis_cli):
    port = cluster.address("n2").resp_port
    out = run_cli(redis_cli, port, "--latency", "-i", "0.3", "--raw").split()
    low, high, avg, samples = float(out[0]), float(out[1]), float(out[2]), int(out[3])
    assert 0 <= low <= avg <= high < 1000 and samples > 0
    cluster.redis("n2").mset({f"scanme:{i}": i for i in range(30)})
    found = run_cli(redis_cli, port, "--scan", "--pattern", "scanme:*").split()
    assert sorted(found) == sorted(f"scanme:{i}" for i in range(30))
# redis-cli --bigkeys and --memkeys: test_string_commands.py
