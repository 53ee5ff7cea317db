"""The QuorumKV Python client: any-node failover over the Redis protocol, and for
strong keyspaces a client that goes to each range's leader, exactly once."""

from .client import AsyncClient, Client, parse_node
from .strong import AsyncStrongClient, StrongClient

__all__ = ["AsyncClient", "AsyncStrongClient", "Client", "StrongClient", "parse_node"]
