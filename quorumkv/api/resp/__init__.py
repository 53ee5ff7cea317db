"""The Redis protocol front door: the connection server and the commands by family.

Importing the package registers every command family in ``registry.COMMANDS``.
"""

from . import connection, expiry, flush, introspection, iteration, strings  # noqa: F401  (register)
from .registry import COMMANDS, CommandContext
from .server import RespConnection, RespServer, start_resp

__all__ = ["COMMANDS", "CommandContext", "RespConnection", "RespServer", "start_resp"]
