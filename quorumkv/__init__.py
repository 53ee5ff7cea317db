"""QuorumKV: a distributed key-value database.

Eventual (Dynamo-style) keyspaces today; strong (Raft) keyspaces are planned. Talk
to any node over the Redis protocol or HTTP; see README.md.
"""

__version__ = "0.1.0"

from . import accel as _accel

_accel.install()  # compiled hot modules, where they match their source (accel.py)
