"""Node-local storage: one RocksDB ordered key space per node."""

from .engine import Durability, Storage, StorageError

__all__ = ["Durability", "Storage", "StorageError"]
