"""KV.random_key walks the hash space once from a random start, wrapping around,
and ends on an empty keyspace wherever it starts."""

import asyncio

import pytest

from quorumkv.api.kv import KV
from quorumkv.core.consistency import Level
from quorumkv.core.placement import HASH_SPACE
from quorumkv.core.scan import ScanPage

RANGES = 16
ENDS = [(i + 1) * HASH_SPACE // RANGES for i in range(RANGES)]


class FakeCoordinator:
    """Pages of a keyspace cut into 16 ranges; ``keys`` maps a hash position to a key."""

    def __init__(self, keys: dict[int, bytes]) -> None:
        self.keys = keys
        self.pages = 0

    async def scan_page(self, keyspace, position, limit, level) -> ScanPage:
        self.pages += 1
        assert self.pages <= 2 * RANGES + 2, "walked the hash space more than once"
        end = next(e for e in ENDS if e > position)
        found = [k for h, k in sorted(self.keys.items()) if position <= h < end]
        return ScanPage(found[:limit], end)


def random_key(keys: dict[int, bytes], start: int):
    kv = KV.__new__(KV)
    kv.served = {"default": FakeCoordinator(keys)}  # KV.replicator's resolved keyspaces
    return asyncio.run(kv.random_key("default", Level.QUORUM, start=start))


@pytest.mark.parametrize("start", [0, 1, ENDS[0], ENDS[7] + 5, ENDS[14], ENDS[14] + 1,
                                   HASH_SPACE - 1])
def test_an_empty_keyspace_ends_wherever_the_walk_starts(start):
    assert random_key({}, start) is None


@pytest.mark.parametrize("start", [0, ENDS[3], ENDS[14] + 1, HASH_SPACE - 1])
def test_the_one_key_is_found_from_any_start(start):
    assert random_key({ENDS[2] + 7: b"only"}, start) == b"only"
