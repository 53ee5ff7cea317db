"""One node of three partitioned away (nftables) under a steady QUORUM write load:
no request fails, and after the partition heals every replica agrees."""

import os
import time

from .nemesis import reachable

PARTITION_S = float(os.environ.get("QKV_FAULT_PARTITION_S", "5"))


def test_a_partitioned_node_costs_no_failed_request_and_catches_up(faulty):
    make_cluster, make_nemesis = faulty
    c = make_cluster(3).start()
    nemesis = make_nemesis(c)
    n1, n3 = c.address("n1"), c.address("n3")
    assert reachable(n1.host, n3.host, n3.peer_port)

    client = c.redis("n1")  # QUORUM, the default
    written: dict[str, bytes] = {}
    failures: list[str] = []

    def write(i: int) -> None:
        key, value = f"p:{i}", f"v{i}".encode()
        try:
            client.set(key, value)
            written[key] = value
        except Exception as exc:  # the assertion below reports them all
            failures.append(f"{key}: {exc}")

    i = 0
    for _ in range(200):  # before
        write(i)
        i += 1
    nemesis.isolate("n3")
    # the partition really cuts traffic between these addresses
    assert not reachable(n1.host, n3.host, n3.peer_port)
    assert reachable(n1.host, c.address("n2").host, c.address("n2").peer_port)
    cut_until = time.monotonic() + PARTITION_S
    while time.monotonic() < cut_until and i < 200_000:  # bounded in time and count
        write(i)
        i += 1
    c.wait_state("n1", "n3", "down", timeout_s=10)  # n1 convicted it meanwhile
    nemesis.heal()
    healed_at = time.monotonic()

    assert failures == [], failures[:5]
    # every replica agrees: n3, asked at ONE, answers from its own storage
    one = c.redis("n3", consistency="ONE")
    deadline = healed_at + 60
    missing = list(written)
    while missing:
        assert time.monotonic() < deadline, f"n3 still lacks {len(missing)} keys"
        missing = [k for k in missing if one.get(k) != written[k]]
        if missing:
            time.sleep(0.2)
    caught_up_s = time.monotonic() - healed_at
    print(f"{len(written)} keys written, {i - 200} during a {PARTITION_S:.0f} s partition; "
          f"n3 agreed {caught_up_s:.1f} s after healing")
