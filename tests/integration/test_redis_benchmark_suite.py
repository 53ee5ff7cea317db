"""redis-benchmark against a node: the test list README.md recommends runs to the end,
and the default suite stops, with QuorumKV's own error, at its first command that an
eventual keyspace cannot serve.

Since Redis 6.2 (redis/redis#8869) redis-benchmark exits with status 1 on the first
error reply that is not a cluster redirection (MOVED, ASK, CLUSTERDOWN, and those
only with --cluster): no error reply lets its default suite go on past INCR, LPUSH,
SADD, HSET, ZADD and the rest, which must stay errors here. So the README names the
``-t`` list that measures what QuorumKV serves.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
RUN_TIMEOUT_S = 120
# what redis-benchmark -q prints for each test it completes
RESULT_LINE = re.compile(
    r"^\s*(?P<test>[A-Z_]+(?: \(10 keys\))?): (?P<rps>[\d.]+) requests per second", re.MULTILINE)
TITLES = {"ping_inline": "PING_INLINE", "ping_mbulk": "PING_MBULK", "set": "SET",
          "get": "GET", "mset": "MSET (10 keys)"}


@pytest.fixture(scope="module")
def redis_benchmark():
    path = shutil.which("redis-benchmark")
    if path is None:
        pytest.skip("redis-benchmark is not installed (apt-get install redis-tools)")
    return path


def run(redis_benchmark, port: int, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([redis_benchmark, "-h", "127.0.0.1", "-p", str(port), "-q",
                           *options], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def completed(out: str) -> list[str]:
    # -q rewrites a progress line in place with \r; the results end in \n
    return [m["test"] for m in RESULT_LINE.finditer(out.replace("\r", "\n"))
            if float(m["rps"]) > 0]


def readme_test_list() -> str:
    """The ``-t`` list of the redis-benchmark command line README.md recommends."""
    found = re.findall(r"^redis-benchmark .*-t (\S+)", README.read_text(), re.MULTILINE)
    assert found, "README.md names no redis-benchmark -t list"
    return found[0]


def test_the_readme_test_list_runs_to_the_end(cluster, redis_benchmark):
    tests = readme_test_list()
    port = cluster.address("n1").resp_port
    for pipeline in ("1", "16"):
        result = run(redis_benchmark, port, "-t", tests, "-n", "200", "-c", "8",
                     "-r", "1000", "-P", pipeline)
        assert result.returncode == 0, result.stderr
        assert completed(result.stdout) == [TITLES[t] for t in tests.split(",")], result.stdout


def test_the_default_suite_stops_at_incr_with_quorumkvs_error(cluster, redis_benchmark):
    result = run(redis_benchmark, cluster.address("n2").resp_port, "-n", "100", "-c", "4")
    assert result.returncode == 1
    assert completed(result.stdout) == ["PING_INLINE", "PING_MBULK", "SET", "GET"]
    assert "Error from server: ERR INCR needs an atomic read-modify-write, which eventual " \
           "keyspaces cannot give" in result.stderr
