"""Peer transport: length-prefixed msgpack frames over asyncio."""

from .transport import PeerTransport, PeerUnavailable

__all__ = ["PeerTransport", "PeerUnavailable"]
