"""Container commands (CLIENT, CONFIG, COMMAND, SLOWLOG, OBJECT, MEMORY): a table of
subcommands, each with its own Redis arity, flags and key positions, as Redis 7
has them.

The error texts are Redis 7's: an unknown subcommand is ``unknown subcommand
'FOO'. Try CONFIG HELP.``, a wrong count ``wrong number of arguments for
'config|get' command``; ``<PARENT> HELP`` lists the subcommands. ``COMMAND INFO``
reports the subcommands from ``CONTAINERS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from ...core import resp
from ...errors import ArityError, SyntaxError_
from .registry import command


@dataclass
class Subcommand:
    handler: Callable[..., Awaitable[bytes]]
    arity: int                 # counted from the parent's name, as Redis does
    flags: tuple[str, ...]
    help: tuple[str, ...]      # lines of <PARENT> HELP, the first one unindented
    keys: tuple[int, int, int] = (0, 0, 0)  # (first, last, step) from the parent's name


class Container:
    def __init__(self, name: str, bare=None) -> None:
        self.name = name
        self.bare = bare  # the handler of the name alone (COMMAND), if it has one
        self.subs: dict[str, Subcommand] = {}

    def sub(self, name: str, arity: int, flags: str = "", help: tuple[str, ...] = (),
            keys: tuple[int, int, int] = (0, 0, 0)):
        def register(fn):
            self.subs[name] = Subcommand(fn, arity, tuple(flags.split()), help, keys)
            return fn
        return register

    def find(self, args: list) -> tuple[str, Subcommand | None]:
        if len(args) < 2 or not isinstance(args[1], bytes):  # none, or core.resp.Oversized
            return "", None
        name = args[1].decode("utf-8", "replace").upper()
        return name, self.subs.get(name)

    async def dispatch(self, ctx, args: list) -> bytes:
        if len(args) == 1 and self.bare is not None:
            return await self.bare(ctx, args)
        name, sub = self.find(args)
        if sub is None:
            raise SyntaxError_(f"unknown subcommand '{args[1].decode('utf-8', 'replace')[:128]}'"
                               f". Try {self.name} HELP.")
        n = len(args)
        if (sub.arity > 0 and n != sub.arity) or (sub.arity < 0 and n < -sub.arity):
            raise ArityError(f"{self.name}|{name}")
        return await sub.handler(ctx, args)

    def help_reply(self) -> bytes:
        lines = [f"{self.name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"]
        for sub in self.subs.values():
            lines += sub.help
        lines += ["HELP", "    Prints this help."]
        return resp.array([resp.simple(line) for line in lines])


CONTAINERS: dict[str, Container] = {}


def container(name: str, arity: int = -2, flags: str = "", bare=None) -> Container:
    """Register command ``name`` as a container; add subcommands with ``.sub``. Its
    HELP subcommand is added here (arity 2, as in Redis)."""
    box = Container(name, bare)
    CONTAINERS[name] = box
    command(name, arity, flags)(box.dispatch)

    @box.sub("HELP", 2, "loading stale")  # its lines come last (help_reply)
    async def help_(ctx, args):
        return box.help_reply()

    return box


def subcommand_of(name: str, args: list) -> tuple[str, Subcommand | None]:
    """``("config|get", spec)`` for ``CONFIG GET ...``; ``("", None)`` otherwise."""
    box = CONTAINERS.get(name)
    if box is None:
        return "", None
    sub_name, sub = box.find(args)
    return (f"{name.lower()}|{sub_name.lower()}", sub) if sub else ("", None)
