import shutil

import pytest

from .cluster import ProcessCluster


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
