"""The QuorumKV Python client: any-node failover over the Redis protocol."""

from .client import AsyncClient, Client, parse_node

__all__ = ["AsyncClient", "Client", "parse_node"]
