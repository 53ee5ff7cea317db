"""Optional compiled build of the hot modules (Cython), and its staleness check.

The modules below are plain Python. ``python -m quorumkv.accel build`` compiles
them in place with Cython into extension modules, which Python then imports instead
of the ``.py`` files; nothing changes in behaviour, the per-request interpreter
overhead drops (docs/benchmarks.md has the figures). ``make`` does this when Cython
and a C compiler are present; without them everything runs as plain Python.

An extension built from an older source would run stale code silently, so
``stale()`` names every compiled module whose source is newer; the test suite
refuses to run on them and ``quorumkv node start`` warns.
"""

from __future__ import annotations

import glob
import os
import sys
import sysconfig

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# the per-request path: protocol, coordination, transport, storage
HOT_MODULES = (
    "core/consistency.py", "core/hlc.py", "core/messages.py", "core/quorum.py",
    "core/rangemap.py", "core/resp.py", "core/scan.py", "core/version.py",
    "node/coordinator.py", "node/deadlines.py", "node/metrics.py", "node/replica.py",
    "api/commands.py", "api/kv.py", "api/resp_server.py",
    "net/transport.py", "storage/engine.py",
)


def _extension_path(source: str) -> str:
    return source[:-3] + sysconfig.get_config_var("EXT_SUFFIX")


def compiled() -> list[str]:
    """Sources that have a compiled extension next to them."""
    return [s for s in _sources() if os.path.exists(_extension_path(s))]


def stale() -> list[str]:
    """Sources edited after their extension was built."""
    return [s for s in compiled()
            if os.path.getmtime(s) > os.path.getmtime(_extension_path(s))]


def _sources() -> list[str]:
    return [os.path.join(PACKAGE_DIR, m) for m in HOT_MODULES]


def remove() -> None:
    """Delete every extension in the package (back to plain Python)."""
    pattern = os.path.join(PACKAGE_DIR, "**", "*" + sysconfig.get_config_var("EXT_SUFFIX"))
    for path in glob.glob(pattern, recursive=True):
        os.remove(path)


def build() -> None:
    from Cython.Build import cythonize  # only the build needs Cython
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    os.environ.setdefault("CFLAGS", "-w")  # generated C: its warnings are not ours
    root = os.path.dirname(PACKAGE_DIR)
    os.chdir(root)  # module names follow the paths relative to the project
    sources = [os.path.relpath(s, root) for s in _sources()]
    extensions = cythonize(sources, build_dir="build/cython", quiet=True,
                           nthreads=os.cpu_count() or 1,
                           # annotations stay hints, exactly as in Python
                           compiler_directives={"language_level": 3,
                                                "annotation_typing": False})
    dist = Distribution({"ext_modules": extensions})
    cmd = build_ext(dist)
    cmd.inplace = True
    cmd.parallel = os.cpu_count() or 1
    cmd.build_temp = "build/cython/obj"
    cmd.ensure_finalized()
    cmd.run()


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "status"
    if action == "build":
        build()
    elif action == "remove":
        remove()
    elif action != "status":
        print("usage: python -m quorumkv.accel [build|remove|status]", file=sys.stderr)
        return 2
    old = stale()
    print(f"compiled: {len(compiled())} of {len(HOT_MODULES)} hot modules"
          + (f"; STALE: {', '.join(os.path.relpath(s, PACKAGE_DIR) for s in old)}" if old else ""))
    return 1 if old else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
