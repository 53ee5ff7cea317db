"""The pure protocol core: no sockets, files, asyncio, clocks or global random.

Everything here takes time and randomness as inputs so that the node adapters and a
deterministic simulation can drive the same code.
"""
