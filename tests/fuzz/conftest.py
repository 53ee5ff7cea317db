"""The fuzz tier: one real cluster for the whole tier, a canary client and a set of
acknowledged writes that every fuzzed input must leave serving and intact.

Each test is bounded twice: ``max_examples`` and a wall-clock budget, after which
the remaining examples return at once (so the tier stays near a minute on a small
machine). Shrinking is off: with real processes it can take minutes; a failure
prints the example as it was generated, and hypothesis's blob replays it.
"""

from __future__ import annotations

import secrets
import time

import pytest
import redis
from hypothesis import HealthCheck, Phase, settings

from ..integration.cluster import ProcessCluster

CANARY_TIMEOUT_S = 5.0   # a node that does not answer PING within this is stalled
DURING_TIMEOUT_S = 2.0   # while it works on a fuzzed input (the old stalls: 4.4 s, hours)
ACKED_KEYS = 20


def fuzz_settings(max_examples: int):
    return settings(max_examples=max_examples, deadline=None, print_blob=True,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


class Budget:
    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def spent(self) -> bool:
        return time.monotonic() > self.ends


_budgets: dict[str, Budget] = {}


def budget_for(name: str, seconds: float) -> Budget:
    """A test's time budget, started by its first example."""
    return _budgets.setdefault(name, Budget(seconds))


class Guard:
    """The canary connection and the acknowledged writes made before fuzzing."""

    def __init__(self, cluster: ProcessCluster) -> None:
        a = cluster.address("n1")
        self.canary = redis.Redis(host=a.host, port=a.resp_port,
                                  socket_timeout=CANARY_TIMEOUT_S,
                                  socket_connect_timeout=CANARY_TIMEOUT_S)
        self.quick = redis.Redis(host=a.host, port=a.resp_port,
                                 socket_timeout=DURING_TIMEOUT_S,
                                 socket_connect_timeout=DURING_TIMEOUT_S)
        tag = secrets.token_hex(8)  # fuzzed keys cannot guess it
        self.acked = {f"qkv-fuzz-ack:{tag}:{i}".encode(): secrets.token_bytes(16)
                      for i in range(ACKED_KEYS)}
        for key, value in self.acked.items():
            assert self.canary.set(key, value)  # acknowledged at the default QUORUM

    def ping_meanwhile(self) -> None:
        """PING while the node may still be working on a fuzzed input."""
        assert self.quick.ping(), "the canary's PING got no PONG"

    def check(self) -> None:
        """The node still serves the canary and lost no acknowledged write."""
        assert self.canary.ping(), "the canary's PING got no PONG"
        keys = list(self.acked)
        assert self.canary.mget(keys) == [self.acked[k] for k in keys], \
            "an acknowledged write no longer reads back"


@pytest.fixture(scope="session")
def fuzz_cluster(tmp_path_factory):
    c = ProcessCluster(tmp_path_factory.mktemp("fuzz")).start()
    yield c
    c.close()


@pytest.fixture(scope="session")
def guard(fuzz_cluster):
    g = Guard(fuzz_cluster)
    yield g
    g.check()
