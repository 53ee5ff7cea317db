"""The Redis protocol front door: the connection server and the commands by family.

Importing the package registers every command family in ``registry.COMMANDS``.
"""

# the command families register themselves on import (one per line: easy merges)
from . import admin  # noqa: F401
from . import clients  # noqa: F401
from . import connection  # noqa: F401
from . import expiry  # noqa: F401
from . import flush  # noqa: F401
from . import info  # noqa: F401
from . import introspection  # noqa: F401
from . import iteration  # noqa: F401
from . import keyspace  # noqa: F401
from . import keyspaces  # noqa: F401
from . import ranges  # noqa: F401
from . import settings  # noqa: F401
from . import strings  # noqa: F401
from . import strong  # noqa: F401
from . import transactions  # noqa: F401
from .registry import COMMANDS, CommandContext
from .server import RespConnection, RespServer, start_resp

__all__ = ["COMMANDS", "CommandContext", "RespConnection", "RespServer", "start_resp"]
