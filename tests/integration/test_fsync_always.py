"""``fsync = always``: every write batch is synced off the event loop before it is
acknowledged, so a node serves pipelined clients and keeps what it acknowledged
through kill -9."""

from .cluster import ProcessCluster

KEYS = 300


def test_a_cluster_with_fsync_always_serves_pipelines_and_keeps_acknowledged_writes(tmp_path):
    c = ProcessCluster(tmp_path, fsync="always")
    try:
        c.start()
        writer = c.redis("n1", consistency="ALL")
        pipe = writer.pipeline(transaction=False)
        for i in range(KEYS):
            pipe.set(f"always:{i}", f"v{i}")
        assert pipe.execute() == [True] * KEYS
        # acknowledged at ALL: every replica has it
        assert c.redis("n2").get("always:7") == b"v7"
        c.kill("n1")
        c.start("n1")
        c.kill("n2")
        c.kill("n3")
        reader = c.redis("n1", consistency="ONE")  # n1's own disk alone
        assert [reader.get(f"always:{i}") for i in range(KEYS)] == \
            [f"v{i}".encode() for i in range(KEYS)]
    finally:
        c.close()
