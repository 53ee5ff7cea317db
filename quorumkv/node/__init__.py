"""The node: asyncio adapters wiring the pure core to storage, peers and clients."""
