"""The core takes time, randomness and I/O as inputs: it never imports them.

Walks every module under ``quorumkv/core`` with ``ast`` (nothing is imported, so a
module that would open a socket at import time cannot hide it), resolves relative
imports, and fails on any forbidden module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import quorumkv.core

CORE_DIR = Path(quorumkv.core.__file__).parent
CORE_PACKAGE = "quorumkv.core"

FORBIDDEN = {
    # clocks, randomness, concurrency, I/O
    "asyncio", "socket", "time", "random", "os", "threading",
    "selectors", "subprocess", "multiprocessing", "uvloop", "aiohttp",
    # the storage engine and the impure layers of QuorumKV itself
    "rocksdict", "quorumkv.storage", "quorumkv.net", "quorumkv.node", "quorumkv.api",
}


def _resolve(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(source: str, package: str = CORE_PACKAGE) -> set[str]:
    """Every module a source file imports, relative imports made absolute.

    ``from .. import storage`` yields both ``quorumkv`` and ``quorumkv.storage``,
    since the name may be a submodule.
    """
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node, package)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def forbidden_in(modules: set[str]) -> set[str]:
    """Modules that are, or live under, a forbidden one (``os.path`` is ``os``)."""
    return {mod for mod in modules
            if any(mod == bad or mod.startswith(bad + ".") for bad in FORBIDDEN)}


CORE_FILES = sorted(CORE_DIR.rglob("*.py"))  # subpackages too (core/placement/, core/eventual/)


def package_of(path: Path) -> str:
    """``quorumkv.core.placement`` for core/placement/rangecache.py."""
    return ".".join([CORE_PACKAGE, *path.relative_to(CORE_DIR).parent.parts])


def test_the_walk_sees_the_core_modules():
    names = {p.stem for p in CORE_FILES}
    expected = {"hlc", "version", "consistency", "quorum", "messages",
                "resp", "glob", "scan", "partitioner", "descriptor", "rangecache"}
    assert expected <= names, f"missing: {expected - names}"


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE_DIR)))
def test_core_module_imports_nothing_impure(path):
    bad = forbidden_in(imported_modules(path.read_text(), package_of(path)))
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("source", [
    "import asyncio",
    "import os.path",
    "from time import monotonic",
    "import random as rnd",
    "from socket import socket",
    "import threading",
    "import rocksdict",
    "from ..storage import engine",
    "from .. import node",
    "from ..net.frames import read_frame",
    "from quorumkv.api import http",
    "def f():\n    import time\n    return time.time()",
])
def test_the_checker_catches_impure_imports(source):
    assert forbidden_in(imported_modules(source))


@pytest.mark.parametrize("source", [
    "import bisect",
    "from .version import Version",
    "from ..errors import SyntaxError_",
    "import msgpack",
    "from dataclasses import dataclass",
    "import timeit_lookalike",
])
def test_the_checker_allows_pure_imports(source):
    assert not forbidden_in(imported_modules(source))


def test_relative_imports_of_a_subpackage_resolve_from_it():
    """``from ...node import x`` in core/placement/ reaches quorumkv.node."""
    package = package_of(CORE_DIR / "placement" / "rangecache.py")
    assert package == "quorumkv.core.placement"
    assert forbidden_in(imported_modules("from ...node import replica", package))
    assert not forbidden_in(imported_modules("from ..hlc import HLC", package))
