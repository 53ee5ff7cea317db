"""Key-value operations shared by the RESP and HTTP APIs.

Enforces the key and value limits and the meaning of TTLs and deletes on top of the
coordinator: a version that is a tombstone or has expired reads as absent.
Every operation names its keyspace; :meth:`KV.replicator` is the one place that
resolves an eventual keyspace's name to what serves it (the node's coordinator),
:meth:`KV.strong` a strong keyspace's (its StrongReplicator, which the RESP
family api/resp/strong.py and the HTTP API call), and the same
:class:`UnknownKeyspaceError` (``unknown keyspace 'x'``) answers an unknown name
on every interface. Read-modify-write operations (SET NX/XX/GET, GETDEL, EXPIRE, COPY, RENAME, ...)
read at the request's level and then write; in an eventual keyspace they are not
atomic against concurrent writers of the same keys (last write wins). Atomic
read-modify-write is what strong keyspaces are for.
"""

from __future__ import annotations

import asyncio
import random
from typing import Awaitable

from ..core.consistency import Level
from ..core.placement import HASH_SPACE
from ..core.version import Version
from ..errors import LimitError, UnavailableError, UnknownKeyspaceError, UnsupportedError
from ..node.coordinator import settle
from ..config import DEFAULT_KEYSPACE
from ..core.keys import KEYSPACE_ID_BYTES
from .windowed import windowed

ROCKSDB_KEY_SUFFIX_BYTES = 8  # RocksDB appends a 7-byte sequence number and a type byte


def initial_keyspace(ranges) -> str:
    """The keyspace that db 0 (a new RESP connection, ``SELECT 0``) addresses."""
    for ks in ranges.keyspaces.values():
        if ks.db == 0:
            return ks.name
    return DEFAULT_KEYSPACE  # no keyspace declares db 0: the one that always exists


class KV:
    def __init__(self, node) -> None:
        self.node = node
        self.coordinator = node.coordinator
        self.clock_ms = node.clock_ms
        self.max_key = node.config.node.max_key_bytes
        self.max_value = node.config.node.max_value_bytes
        self.ranges = node.ranges
        self.initial = initial_keyspace(node.ranges)
        self.served: dict = {}  # keyspace name -> its replicator, once resolved
        self.levels: dict = {}  # keyspace name -> Level of requests that name none

    # ---- keyspaces: by name, by Redis db number, and what serves each --------------

    def keyspace(self, name: str):
        """The keyspace called ``name`` (core.placement.Keyspace)."""
        ks = self.ranges.keyspaces.get(name)
        if ks is None:
            raise UnknownKeyspaceError(f"unknown keyspace '{name}'")
        return ks

    def replicator(self, name: str):
        """What serves keyspace ``name``'s reads and writes: the node's coordinator
        for an eventual keyspace. The request path reads ``self.served`` first and
        comes here once per keyspace."""
        served = self.served.get(name)
        if served is None:
            ks = self.keyspace(name)
            if ks.mode != "eventual":
                raise UnsupportedError(f"keyspace '{name}' is in {ks.mode} mode: this "
                                       f"command is not served on {ks.mode} keyspaces")
            served = self.served[name] = self.coordinator
        return served

    def check_served(self, name: str) -> None:
        """UnknownKeyspaceError for an unknown name, UnsupportedError for a mode this
        node does not serve (a connection switching to it)."""
        if not self.is_strong(name):
            self.replicator(name)

    def is_strong(self, name: str) -> bool:
        return self.keyspace(name).mode == "strong"

    def strong(self, name: str):
        """The StrongReplicator of strong keyspace ``name`` (node/raft/strong.py):
        ``await execute(command, client_id, seq)`` answers a core.strong reply.
        Looked up per request: the node fills ``strong_replicators`` as its Raft
        groups start."""
        ks = self.keyspace(name)
        if ks.mode != "strong":
            raise UnsupportedError(f"keyspace '{name}' is in {ks.mode} mode, not strong")
        replicator = getattr(self.node, "strong_replicators", {}).get(name)
        if replicator is None:
            raise UnavailableError(f"strong keyspace '{name}' is not served on this node "
                                   f"yet (its Raft groups have not started)")
        return replicator

    def names(self) -> list[str]:
        return list(self.ranges.keyspaces)

    def db_of(self, name: str) -> int | None:
        """The Redis db number of keyspace ``name`` (None: it has none). The initial
        keyspace is db 0 unless another declares it."""
        ks = self.keyspace(name)
        if ks.db is None and name == self.initial:
            return 0
        return ks.db

    def by_db(self, db: int) -> str | None:
        """The name of the keyspace that ``SELECT db`` addresses, None if none."""
        for ks in self.ranges.keyspaces.values():
            if ks.db == db:
                return ks.name
        return self.initial if db == 0 and self.initial in self.ranges.keyspaces else None

    def default_level(self, name: str) -> Level:
        """The level of a request on ``name`` that names none: the keyspace's
        ``default_consistency``, or what ``set_default_level`` gave it since."""
        level = self.levels.get(name)
        if level is None:
            level = self.levels[name] = Level.parse(self.keyspace(name).default_consistency)
        return level

    def set_default_level(self, name: str, level: Level) -> None:
        """On this node, until it restarts (CONFIG SET)."""
        self.keyspace(name)
        self.levels[name] = level

    def check_key(self, key: bytes) -> None:
        if len(key) > self.max_key:
            raise LimitError(f"key too large: {len(key)} bytes, limit is {self.max_key} "
                             f"(node.max_key_bytes)")

    def check_value(self, value: bytes) -> None:
        if len(value) > self.max_value:
            raise LimitError(f"value too large: {len(value)} bytes, limit is {self.max_value} "
                             f"(node.max_value_bytes)")

    async def get_live(self, keyspace: str, key: bytes, level: Level,
                       session=None) -> Version | None:
        """The newest version if it is live (not deleted, not expired), else None."""
        done = asyncio.get_running_loop().create_future()
        self.start_get_live(keyspace, key, level,
                            lambda version, error: settle(done, version, error), session)
        return await done

    def start_get_live(self, keyspace: str, key: bytes, level: Level, on_done,
                       session=None) -> None:
        """:meth:`get_live` in callback form: ``on_done(version or None, error)``."""
        self.check_key(key)
        replicator = self.served.get(keyspace) or self.replicator(keyspace)
        clock_ms = self.clock_ms

        def answered(version, error) -> None:
            if version is not None and not version.is_live(clock_ms()):
                version = None
            on_done(version, error)

        replicator.start_read(keyspace, key, level, answered, session)

    async def get(self, keyspace: str, key: bytes, level: Level,
                  session=None) -> bytes | None:
        version = await self.get_live(keyspace, key, level, session)
        return None if version is None else version.value

    def put(self, keyspace: str, key: bytes, value: bytes, level: Level,
            expiry_ms: int = 0, session=None) -> Awaitable[Version]:
        """Checks the limits now; await the result for the write itself."""
        self.check_key(key)
        self.check_value(value)
        replicator = self.replicator(keyspace)
        version = replicator.new_version(value, expiry_ms)
        return replicator.write(keyspace, key, version, level, session)

    def start_put(self, keyspace: str, key: bytes, value: bytes, level: Level,
                  expiry_ms: int, on_done, session=None) -> None:
        """:meth:`put` in callback form: ``on_done(error)``, None once acknowledged."""
        self.check_key(key)
        self.check_value(value)
        replicator = self.served.get(keyspace) or self.replicator(keyspace)
        version = replicator.new_version(value, expiry_ms)
        replicator.start_write(keyspace, key, version, level, on_done, session)

    async def delete(self, keyspace: str, key: bytes, level: Level,
                     session=None) -> Version:
        self.check_key(key)
        replicator = self.replicator(keyspace)
        version = replicator.new_version(None)
        return await replicator.write(keyspace, key, version, level, session)

    async def delete_existing(self, keyspace: str, keys: list[bytes], level: Level,
                              session=None) -> int:
        """Delete ``keys``; the number that existed (Redis DEL semantics)."""
        for key in keys:
            self.check_key(key)
        self.replicator(keyspace)  # an unknown keyspace fails before any key is read

        async def one(key: bytes) -> int:
            existed = await self.get_live(keyspace, key, level, session) is not None
            await self.delete(keyspace, key, level, session)
            return int(existed)

        return sum(await windowed(keys, one))

    async def truncate(self, keyspace: str, level: Level, sync: bool) -> int:
        """Empty ``keyspace`` (FLUSHDB) on every node, acknowledged at ``level``;
        with ``sync``, once those nodes have also deleted the data. The timestamp
        of the truncation: writes stamped later survive it."""
        return await self.replicator(keyspace).truncate(keyspace, level, sync)

    async def scan_page(self, keyspace: str, position: int, limit: int, level: Level):
        """Keys from hash ``position`` on (core.scan.ScanPage): one page of SCAN."""
        return await self.replicator(keyspace).scan_page(keyspace, position, limit, level)

    async def rewrite_expiry(self, keyspace: str, key: bytes, expiry_ms: int,
                             level: Level, session=None) -> bool:
        """Give a live key a new absolute expiry (0 = persist); False if absent."""
        current = await self.get_live(keyspace, key, level, session)
        if current is None:
            return False
        if expiry_ms and expiry_ms <= self.clock_ms():
            await self.delete(keyspace, key, level, session)
            return True
        await self.put(keyspace, key, current.value, level, expiry_ms, session)
        return True

    # ---- several keys: a read, then writes (not atomic in an eventual keyspace) ----

    async def copy(self, keyspace: str, src: bytes, dst: bytes, level: Level,
                   replace: bool = False, session=None,
                   dst_keyspace: str | None = None) -> bool:
        """Redis COPY: ``dst`` (in ``dst_keyspace``, by default the same) gets
        ``src``'s value and expiry. False if ``src`` is absent, or ``dst`` exists
        and not ``replace``. A writer of ``src`` or ``dst`` between the reads and
        the write interleaves: last write wins."""
        self.check_key(src)
        self.check_key(dst)
        dst_keyspace = dst_keyspace or keyspace
        self.replicator(keyspace)
        self.replicator(dst_keyspace)
        reads = [self.get_live(keyspace, src, level, session)]
        if not replace:
            reads.append(self.get_live(dst_keyspace, dst, level, session))
        found = await asyncio.gather(*reads)
        current = found[0]
        if current is None or (not replace and found[1] is not None):
            return False
        await self.put(dst_keyspace, dst, current.value, level, current.expiry_ms, session)
        return True

    async def rename(self, keyspace: str, src: bytes, dst: bytes, level: Level,
                     nx: bool = False, session=None) -> bool | None:
        """Redis RENAME (RENAMENX with ``nx``): None if ``src`` is absent, False if
        ``nx`` and ``dst`` exists, else True once ``dst`` holds ``src``'s value and
        expiry and ``src`` is deleted.

        ``dst`` is written before ``src`` is deleted, so a failure in between leaves
        both keys, never neither. Not atomic: a write to ``src`` after the read is
        lost to the delete, and one to ``dst`` races the rename (last write wins)."""
        self.check_key(src)
        self.check_key(dst)
        reads = [self.get_live(keyspace, src, level, session)]
        if nx and dst != src:
            reads.append(self.get_live(keyspace, dst, level, session))
        found = await asyncio.gather(*reads)
        current = found[0]
        if current is None:
            return None
        if dst == src:
            return not nx
        if nx and found[1] is not None:
            return False
        await self.put(keyspace, dst, current.value, level, current.expiry_ms, session)
        await self.delete(keyspace, src, level, session)
        return True

    async def random_key(self, keyspace: str, level: Level, sample: int = 16,
                         start: int | None = None) -> bytes | None:
        """A live key picked at random, None if the keyspace is empty.

        Scans from a random position of the hash space (``start``, for tests),
        wrapping around once, to the first page that holds a live key, and picks one
        of that page's keys (up to ``sample``). Not uniform: a key after a long
        empty stretch of the hash space is picked more often than one in a crowd."""
        if start is None:
            start = random.randrange(HASH_SPACE)
        position, wrapped = start, False
        while True:
            page = await self.scan_page(keyspace, position, sample, level)
            if page.keys:
                return random.choice(page.keys)
            position = page.next_position
            if wrapped and position >= start:
                return None  # back where it started: every range was empty
            if position >= HASH_SPACE:
                if wrapped:
                    return None
                position, wrapped = 0, True
            await asyncio.sleep(0)  # pages read locally finish without yielding the loop

    def stored_bytes(self, keyspace: str, key: bytes, version: Version) -> int:
        """What one replica stores for ``key``: the storage key (keyspace id and
        placement key), RocksDB's sequence number and type, and the encoded version
        (timestamp, coordinator id, flags, expiry, value), before compression."""
        placement = self.keyspace(keyspace).placement_key(key)
        return (KEYSPACE_ID_BYTES + len(placement) + ROCKSDB_KEY_SUFFIX_BYTES
                + len(version.encode()))
