"""The Redis protocol front door: the connection server and the commands by family.

Importing the package registers every command family in ``registry.COMMANDS``.
"""

from . import (admin, clients, connection, expiry, info, introspection,  # noqa: F401  (register)
               iteration, settings, strings)
from .registry import COMMANDS, CommandContext
from .server import RespConnection, RespServer, start_resp

__all__ = ["COMMANDS", "CommandContext", "RespConnection", "RespServer", "start_resp"]
