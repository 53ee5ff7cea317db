import pytest

from ..integration.cluster import ProcessCluster
from .nemesis import Nemesis, available


@pytest.fixture
def faulty(tmp_path):
    """(cluster factory, nemesis factory); everything stopped and removed after."""
    reason = available()
    if reason:
        pytest.skip(reason)
    made: list = []

    def cluster(nodes: int = 3, **settings) -> ProcessCluster:
        workdir = tmp_path / f"c{len(made)}"
        workdir.mkdir()
        # nodes on 127.0.0.2 and up: the test's clients connect from 127.0.0.1, so a
        # partition of one node never cuts the client off from the others
        c = ProcessCluster(workdir, nodes=nodes, host_per_node=True, first_host=2,
                           **settings)
        made.append(c)
        return c

    nemeses: list = []

    def nemesis(c) -> Nemesis:
        n = Nemesis(c)
        nemeses.append(n)
        return n

    yield cluster, nemesis
    for n in nemeses:
        n.close()
    for c in made:
        c.close()
