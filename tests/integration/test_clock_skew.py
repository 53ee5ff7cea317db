"""A node whose clock runs ahead cannot overwrite newer data through LWW."""

import pytest
import redis


def test_writes_from_a_node_with_a_clock_far_ahead_are_refused(fresh_cluster):
    # n3's wall clock runs 60 s ahead (node.max_clock_skew_ms is 500 by default)
    c = fresh_cluster.start(env={"n3": {"QKV_CLOCK_OFFSET_MS": "60000"}})
    n1 = c.redis("n1")
    assert n1.set("skew:k", "from n1")

    with pytest.raises(redis.ResponseError) as err:
        c.redis("n3").set("skew:k", "from the future")
    assert "consistency QUORUM not met: 1 of 3 replicas answered" in str(err.value)
    assert n1.get("skew:k") == b"from n1"  # n1 and n2 refused n3's version
    assert c.redis("n2", consistency="ONE").get("skew:k") == b"from n1"
    assert "clock skew: a version from n3 is" in c.log("n1")

    # a later write from n1 is what readers see (had n3's version spread, it would
    # beat every write for 60 s); n3 itself still holds its own version, so ALL,
    # which needs n3's answer, says so rather than return it
    assert n1.set("skew:k", "later from n1")
    assert c.redis("n2").get("skew:k") == b"later from n1"
    with pytest.raises(redis.ResponseError) as err:
        c.redis("n2", consistency="ALL").get("skew:k")
    assert "consistency ALL not met: 2 of 3 replicas answered" in str(err.value)
