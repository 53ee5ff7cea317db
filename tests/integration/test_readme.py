"""The README's Python examples run as written, against a real cluster (its
addresses swapped for the test cluster's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
RUN_TIMEOUT_S = 60


def python_examples() -> list[str]:
    with open(README) as f:
        text = f.read()
    section = text.split("\n### Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def run_example(code: str, cluster) -> subprocess.CompletedProcess:
    for i, node_id in enumerate(("n1", "n2", "n3")):
        a = cluster.address(node_id)
        code = code.replace(f"127.0.0.1:{7379 + i}", f"{a.host}:{a.resp_port}")
    assert "7379" not in code and "7380" not in code and "7381" not in code
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)


def test_the_readme_has_a_sync_an_async_and_a_strong_example():
    examples = python_examples()
    assert len(examples) == 3
    assert "Client(nodes" in examples[0] and "AsyncClient(nodes" in examples[1]
    assert "StrongClient(" in examples[2]


def test_the_client_example_runs_as_written(cluster):
    out = run_example(python_examples()[0], cluster)
    assert out.returncode == 0, out.stderr
    assert "b'user:42'" in out.stdout.splitlines()


def test_the_async_client_example_runs_as_written(cluster):
    out = run_example(python_examples()[1], cluster)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "b'v'"
    assert "b'k'" in lines[1:]


def test_the_strong_client_example_runs_as_written(tmp_path):
    """On a cluster of its own: the example needs the keyspace `locks` created
    online, which the shared cluster must not get (FLUSHALL refuses while a
    strong keyspace exists)."""
    from .cluster import ProcessCluster
    cluster = ProcessCluster(tmp_path).start()
    try:
        r = cluster.redis("n1")
        r.execute_command("QKV.KEYSPACE", "CREATE", "locks", "mode", "strong", "ranges", "4")
        code = python_examples()[2] + (
            "with StrongClient('127.0.0.1:7380', 'locks') as again:\n"
            "    print(again.get('{acct1}.owner'), again.incr('{acct1}.balance'))\n")
        out = run_example(code, cluster)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["b'carol' 11"]
    finally:
        cluster.close()
