"""The hot path compiled with Cython, used only where it matches the source.

QuorumKV is plain Python. ``python -m quorumkv.build_accel`` (run by ``make run``
and ``make test``) compiles the modules every request goes through with Cython,
unchanged (annotations are not used as C types, so the compiled module behaves
as the source does), into :data:`BUILD_DIR` (see :func:`default_build_dir`:
``build/accel/`` in a source checkout, a per-user cache directory for an
installed package, or ``QUORUMKV_ACCEL_DIR``). A module may have
a ``.pxd`` beside it that declares some of its classes as extension types (their
attributes become struct fields instead of dict entries); plain Python ignores
it. Together, 20-30 % fewer instructions per request (docs/benchmarks.md).

A compiled module is loaded instead of its ``.py`` only while the source (and its
``.pxd``) is byte-for-byte what it was compiled from (a SHA-256 recorded at build time), so
an edited source takes effect at once, as plain Python, until the next build; a
failed or missing build just means plain Python. ``QUORUMKV_PURE=1`` turns the
compiled modules off (profilers such as py-spy see Python frames only).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def default_build_dir(package_dir: str = PACKAGE_DIR, environ=os.environ) -> str:
    """Where the compiled modules go: ``QUORUMKV_ACCEL_DIR`` if set; in a source
    checkout (an editable install: ``pyproject.toml`` beside the package)
    ``build/accel`` there, as ``make`` expects; for an installed package (whose
    parent is ``site-packages``, shared by every package) a cache directory of the
    user's, ``$XDG_CACHE_HOME/quorumkv/accel/<tag>`` (``~/.cache`` by default), one
    per installed copy, version and Python."""
    override = environ.get("QUORUMKV_ACCEL_DIR")
    if override:
        return os.path.abspath(override)
    root = os.path.dirname(package_dir)
    if os.path.exists(os.path.join(root, "pyproject.toml")):
        return os.path.join(root, "build", "accel")
    from . import __version__
    cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    tag = hashlib.sha256(f"{package_dir}\0{__version__}\0{sys.version}".encode()).hexdigest()
    return os.path.join(cache, "quorumkv", "accel", f"{__version__}-{tag[:12]}")


BUILD_DIR = default_build_dir()
MANIFEST = os.path.join(BUILD_DIR, "manifest.json")
# the modules a GET or SET runs through (node 1 and the replicas); and, from the
# py-spy profile of the strong write load (docs/benchmarks.md), the Raft core, the
# multi-Raft host, the Raft log store and a strong range's state machine: plain
# Python compiled as it is, no .pxd (14 % less server CPU per strong write, A/B)
MODULES = (
    "quorumkv.api.kv", "quorumkv.api.resp.expiry", "quorumkv.api.resp.registry",
    "quorumkv.api.resp.server", "quorumkv.api.resp.strings",
    "quorumkv.core.consistency", "quorumkv.core.eventual.actions",
    "quorumkv.core.eventual.context", "quorumkv.core.eventual.read",
    "quorumkv.core.eventual.write", "quorumkv.core.hlc", "quorumkv.core.messages",
    "quorumkv.core.placement.descriptor", "quorumkv.core.placement.keyspace",
    "quorumkv.core.placement.partitioner", "quorumkv.core.placement.rangecache",
    "quorumkv.core.quorum", "quorumkv.core.raft.codec", "quorumkv.core.raft.log",
    "quorumkv.core.raft.progress", "quorumkv.core.raft.quorum", "quorumkv.core.raft.raft",
    "quorumkv.core.raft.rawnode", "quorumkv.core.resp", "quorumkv.core.strong.machine",
    "quorumkv.core.session", "quorumkv.core.version",
    "quorumkv.net.transport",
    "quorumkv.node.clock", "quorumkv.node.coordinator", "quorumkv.node.deadlines",
    "quorumkv.node.heartbeat", "quorumkv.node.metrics", "quorumkv.node.raft.host",
    "quorumkv.node.raft.strong", "quorumkv.node.replica",
    "quorumkv.storage.cache", "quorumkv.storage.engine", "quorumkv.storage.raftlog",
)
CYTHON_DIRECTIVES = {"language_level": 3, "annotation_typing": False, "binding": True}


def source_path(module: str) -> str:
    return os.path.join(PACKAGE_DIR, *module.split(".")[1:]) + ".py"


def digest(path: str) -> str | None:
    """SHA-256 of a module's source and, if it has one, of its ``.pxd`` (the
    declarations that make some of its classes extension types when compiled)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            h.update(f.read())
    except OSError:
        return None
    try:
        with open(path[:-3] + ".pxd", "rb") as f:
            h.update(b"\0pxd\0" + f.read())
    except OSError:
        pass
    return h.hexdigest()


class CompiledFinder:
    """A meta path finder for the compiled modules of a manifest (module name ->
    ``{"so": path, "sha256": source digest}``) whose source is unchanged."""

    def __init__(self, entries: dict[str, dict], source_of=source_path) -> None:
        self.entries = entries
        self.source_of = source_of
        self.stale: list[str] = []

    def find_spec(self, fullname, path=None, target=None):
        entry = self.entries.get(fullname)
        if entry is None:
            return None
        if digest(self.source_of(fullname)) != entry["sha256"] or not os.path.exists(entry["so"]):
            self.stale.append(fullname)
            return None  # the next finder imports the source
        loader = importlib.machinery.ExtensionFileLoader(fullname, entry["so"])
        return importlib.util.spec_from_file_location(fullname, entry["so"], loader=loader)


def read_manifest(path: str = MANIFEST) -> dict[str, dict]:
    """The build's modules, or nothing if there is no build for this interpreter."""
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return {}
    try:
        if manifest.get("ext_suffix") != importlib.machinery.EXTENSION_SUFFIXES[0]:
            return {}
        root = os.path.dirname(path)
        return {name: {"so": os.path.join(root, e["so"]), "sha256": e["sha256"]}
                for name, e in manifest.get("modules", {}).items()}
    except (AttributeError, KeyError, TypeError):  # not a manifest this code wrote
        return {}


_finder: CompiledFinder | None = None


def pure_requested() -> bool:
    """``QUORUMKV_PURE`` set to anything but empty or 0: plain Python only."""
    return os.environ.get("QUORUMKV_PURE", "0") not in ("", "0")


def install() -> None:
    """Put the compiled modules ahead of the sources (once; before they are imported)."""
    global _finder
    if _finder is not None or pure_requested():
        return
    entries = read_manifest()
    if entries:
        _finder = CompiledFinder(entries)
        sys.meta_path.insert(0, _finder)


def build_hint(state: dict | None = None) -> str:
    """What to do about hot modules that run as plain Python, for the node log and
    ``INFO server`` (``compiled_hint``); empty when all are compiled. No commas or
    equals signs: Redis clients split INFO values on them."""
    state = state if state is not None else status()
    if len(state["compiled"]) == state["total"]:
        return ""
    if pure_requested():
        return "QUORUMKV_PURE is set: compiled modules are off"
    if state["stale"]:
        return ("sources edited since the build run as Python; "
                "python -m quorumkv.build_accel rebuilds them")
    return ("plain Python; python -m quorumkv.build_accel compiles the hot path (needs "
            "Cython from pip install 'quorumkv[accel]' and a C compiler with the Python "
            "headers) for 20-30 % fewer instructions per request")


def status() -> dict:
    """Which hot modules run compiled, for INFO and the logs."""
    compiled = sorted(n for n in MODULES if n in sys.modules
                      and getattr(sys.modules[n], "__file__", "").endswith(
                          tuple(importlib.machinery.EXTENSION_SUFFIXES)))
    return {"compiled": compiled, "total": len(MODULES),
            "stale": sorted(set(_finder.stale)) if _finder else []}
