import shutil
import socket
import subprocess
import time

import pytest

from .cluster import STOP_TIMEOUT_S, ProcessCluster, free_ports


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A 3-node cluster shared by the tests of one module (they must not kill nodes)."""
    c = ProcessCluster(tmp_path_factory.mktemp("cluster")).start()
    yield c
    c.close()


@pytest.fixture
def fresh_cluster(tmp_path):
    """A 3-node cluster of the test's own, for tests that kill or restart nodes."""
    c = ProcessCluster(tmp_path)
    yield c
    c.close()


@pytest.fixture(scope="session")
def redis_cli():
    path = shutil.which("redis-cli")
    if path is None:
        pytest.skip("redis-cli is not installed (apt-get install redis-tools)")
    return path


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """The port of a real redis-server with one database (as a QuorumKV node has),
    for tests that compare replies byte for byte; stopped by pid at the end."""
    path = shutil.which("redis-server")
    if path is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    workdir = tmp_path_factory.mktemp("redis-server")
    port = free_ports(1)[0]
    with open(workdir / "redis.log", "wb") as log:
        proc = subprocess.Popen(
            [path, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
             "--save", "", "--appendonly", "no", "--databases", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (workdir / "redis.log").read_text()
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
