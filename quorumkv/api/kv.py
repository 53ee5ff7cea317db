"""Key-value operations shared by the RESP and HTTP APIs.

Enforces the key and value limits and the meaning of TTLs and deletes on top of the
coordinator: a version that is a tombstone or has expired reads as absent.
Read-modify-write operations (SET NX/XX/GET, GETDEL, EXPIRE, ...) read at the
request's level and then write; in an eventual keyspace they are not atomic
against concurrent writers of the same key (last write wins). Atomic
read-modify-write is what strong keyspaces are for.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable

from ..core.consistency import Level
from ..core.version import Version
from ..errors import LimitError
from ..node.coordinator import settle


class KV:
    def __init__(self, node) -> None:
        self.node = node
        self.coordinator = node.coordinator
        self.clock_ms = node.clock_ms
        self.max_key = node.config.node.max_key_bytes
        self.max_value = node.config.node.max_value_bytes

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
        clock_ms = self.clock_ms

        def answered(version, error) -> None:
            if version is not None and not version.is_live(clock_ms()):
                version = None
            on_done(version, error)

        self.coordinator.start_read(keyspace, key, level, answered, session)

    async def get(self, keyspace: str, key: bytes, level: Level,
                  session=None) -> bytes | None:
        version = await self.get_live(keyspace, key, level, session)
        return None if version is None else version.value

    def put(self, keyspace: str, key: bytes, value: bytes, level: Level,
            expiry_ms: int = 0, session=None) -> Awaitable[Version]:
        """Checks the limits now; await the result for the write itself."""
        self.check_key(key)
        self.check_value(value)
        version = self.coordinator.new_version(value, expiry_ms)
        return self.coordinator.write(keyspace, key, version, level, session)

    def start_put(self, keyspace: str, key: bytes, value: bytes, level: Level,
                  expiry_ms: int, on_done, session=None) -> None:
        """:meth:`put` in callback form: ``on_done(error)``, None once acknowledged."""
        self.check_key(key)
        self.check_value(value)
        version = self.coordinator.new_version(value, expiry_ms)
        self.coordinator.start_write(keyspace, key, version, level, on_done, session)

    async def delete(self, keyspace: str, key: bytes, level: Level,
                     session=None) -> Version:
        self.check_key(key)
        version = self.coordinator.new_version(None)
        return await self.coordinator.write(keyspace, key, version, level, session)

    async def delete_existing(self, keyspace: str, keys: list[bytes], level: Level,
                              session=None) -> int:
        """Delete ``keys``; the number that existed (Redis DEL semantics)."""
        for key in keys:
            self.check_key(key)

        async def one(key: bytes) -> int:
            existed = await self.get_live(keyspace, key, level, session) is not None
            await self.delete(keyspace, key, level, session)
            return int(existed)

        return sum(await asyncio.gather(*(one(k) for k in keys)))

    def keyspaces(self) -> list[str]:
        return list(self.coordinator.ranges.keyspaces)

    async def truncate(self, keyspace: str, level: Level, sync: bool) -> int:
        """Empty ``keyspace`` (FLUSHDB) on every node, acknowledged at ``level``;
        with ``sync``, once those nodes have also deleted the data. The timestamp
        of the truncation: writes stamped later survive it."""
        return await self.coordinator.truncate(keyspace, level, sync)

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
