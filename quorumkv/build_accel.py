"""Builds the compiled hot path (see quorumkv/accel.py): ``python -m quorumkv.build_accel``.

Needs Cython (``pip install 'quorumkv[accel]'``) and a C compiler with the Python
headers. Prints a line per module as Cython translates it and as the C compiler
finishes it (the first build takes about 80 s on 2 cores); ``--log FILE`` sends
Cython's and the compiler's own output to FILE, keeping the terminal to progress.
Exit codes: 0 every module compiled; 1 some failed (they run as plain Python);
2 Cython or setuptools is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.machinery
import json
import logging
import multiprocessing
import os
import shutil
import sys
import threading

from .accel import BUILD_DIR, CYTHON_DIRECTIVES, MANIFEST, MODULES, digest, source_path

PREFIX = "quorumkv.build_accel:"


def missing_tools() -> str | None:
    """The first build tool that cannot be imported, or None."""
    for name in ("Cython", "setuptools"):
        try:
            __import__(name)
        except ImportError:
            return name
    return None


def build(jobs: int = 2, log_path: str | None = None, say=None) -> int:
    """Compile :data:`MODULES` into :data:`BUILD_DIR`. Each module is compiled from
    a copy of its source (and ``.pxd``), whose digest goes into the manifest: the
    compiled code is exactly what the recorded digest names. Unchanged modules are
    not rebuilt. One build at a time (a lock file); a module being rebuilt leaves
    the manifest before its old files are removed, so an interrupted build leaves
    it plain Python rather than paired with the wrong code. ``say(line)`` gets the
    progress (default: stdout); with ``log_path`` the tools' output goes there."""
    os.makedirs(BUILD_DIR, exist_ok=True)
    with open(os.path.join(BUILD_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with _tools_output(log_path) as terminal:
            return _build(jobs, say or terminal, log_path)


@contextlib.contextmanager
def _tools_output(log_path: str | None):
    """Yields a ``say(line)`` that reaches the terminal; meanwhile file descriptors
    1 and 2 (and so Cython's workers and the compiler) write to ``log_path``."""
    if log_path is None:
        yield lambda line: print(line, flush=True)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            terminal.write(line + "\n")

    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield say
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        terminal.close()


def _build(jobs: int, say, log_path: str | None) -> int:
    import Cython  # the accel extra: pip install '.[accel]'
    from Cython.Build import cythonize

    settings = f"Cython {Cython.__version__}, {sorted(CYTHON_DIRECTIVES.items())}"
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    src_root = os.path.join(BUILD_DIR, "src")
    try:
        with open(MANIFEST) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        manifest = {}
    recorded = manifest.get("modules", {}) if manifest.get("settings") == settings else {}
    copies, changed = {}, []
    for module in MODULES:
        parts = module.split(".")
        for i in range(1, len(parts)):  # the packages' __init__.py name the module
            init = os.path.join(src_root, *parts[:i], "__init__.py")
            if not os.path.exists(init):
                os.makedirs(os.path.dirname(init), exist_ok=True)
                open(init, "w").close()
        copy = os.path.join(src_root, *parts) + ".py"
        copies[module] = copy
        if module not in recorded or digest(copy) != digest(source_path(module)):
            changed.append(module)
    # first out of the manifest, then their old outputs gone: rebuilt from scratch,
    # whatever the files' timestamps say
    _write_manifest(suffix, settings, {m: e for m, e in recorded.items() if m not in changed})
    for module in changed:
        _refresh_copy(module, copies[module], suffix)
    if changed:
        say(f"{PREFIX} compiling {len(changed)} of {len(MODULES)} modules into {BUILD_DIR}: "
            f"Cython, then the C compiler (about 80 s for all on 2 cores)"
            + (f"; their output goes to {log_path}" if log_path else ""))
        for module in _translate(changed, copies, jobs, say):
            del copies[module]  # Cython refused it: plain Python (its error is logged)
    extensions = cythonize(list(copies.values()), compiler_directives=CYTHON_DIRECTIVES,
                           nthreads=jobs, quiet=True)  # all translated now: no work
    for extension in extensions:  # the generated C's warnings are Cython's business
        extension.extra_compile_args = ["-w"]
    failed = _compile(extensions, set(changed), jobs, say)
    modules = {}
    for module, copy in copies.items():
        so = os.path.join(*module.split(".")) + suffix
        if os.path.exists(os.path.join(BUILD_DIR, so)):
            modules[module] = {"so": so, "sha256": digest(copy)}
    _write_manifest(suffix, settings, modules)
    say(f"{PREFIX} {len(modules)} of {len(MODULES)} modules compiled in {BUILD_DIR}"
        + (f" (the C compiler failed: {failed}; see {log_path or 'above'})" if failed else ""))
    return 0 if len(modules) == len(MODULES) else 1


def _refresh_copy(module: str, copy: str, suffix: str) -> None:
    """Replace the build's copy of a changed module (and its .pxd), outputs removed."""
    for stale in (copy[:-3] + ".c", os.path.join(BUILD_DIR, *module.split(".")) + suffix):
        if os.path.exists(stale):
            os.remove(stale)
    declarations = source_path(module)[:-3] + ".pxd"
    if os.path.exists(declarations):
        shutil.copyfile(declarations, copy[:-3] + ".pxd")
    elif os.path.exists(copy[:-3] + ".pxd"):
        os.remove(copy[:-3] + ".pxd")
    shutil.copyfile(source_path(module), copy)


def _cythonize_one(path: str) -> tuple[str, str | None]:
    from Cython.Build import cythonize
    try:
        cythonize([path], compiler_directives=CYTHON_DIRECTIVES, quiet=True)
    except Exception as exc:  # the details are on stderr (the log)
        return path, f"{type(exc).__name__}: {exc}"
    return path, None


def _translate(changed: list[str], copies: dict[str, str], jobs: int, say) -> list[str]:
    """Cython, one process per job; a line as each module's C source is written.
    Returns the modules Cython failed on."""
    names = {copies[m]: m for m in changed}
    width = len(str(len(changed)))
    failed = []
    with multiprocessing.get_context("fork").Pool(max(1, jobs)) as pool:
        for i, (path, error) in enumerate(pool.imap_unordered(_cythonize_one, list(names)), 1):
            say(f"  cython {i:>{width}}/{len(changed)}  {names[path]}"
                + (f"  failed: {error}" if error else ""))
            if error:
                failed.append(names[path])
    return failed


def _compile(extensions, changed: set[str], jobs: int, say) -> str | None:
    """The C compiler over every extension (setuptools skips the up-to-date ones); a
    line as each changed one is done. The error's text if the compiler failed."""
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    done, lock, width = [0], threading.Lock(), len(str(len(changed)))

    class ReportingBuildExt(build_ext):
        def build_extension(self, ext) -> None:
            super().build_extension(ext)
            if ext.name in changed:
                with lock:
                    done[0] += 1
                    say(f"  cc     {done[0]:>{width}}/{len(changed)}  {ext.name}")

    dist = Distribution({"ext_modules": extensions, "script_name": "quorumkv.accel",
                         "cmdclass": {"build_ext": ReportingBuildExt},
                         "script_args": ["build_ext", "--build-lib", BUILD_DIR,
                                         "--build-temp", os.path.join(BUILD_DIR, "tmp"),
                                         "-j", str(jobs)]})
    dist.parse_command_line()
    try:
        dist.run_commands()
    except (Exception, SystemExit) as exc:  # distutils ends a failed compile with SystemExit
        return f"{type(exc).__name__}: {exc}"
    return None


def _write_manifest(suffix: str, settings: str, modules: dict) -> None:
    tmp = MANIFEST + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"ext_suffix": suffix, "settings": settings, "modules": modules}, f,
                  indent=1)
    os.replace(tmp, MANIFEST)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quorumkv.build_accel",
                                     description="Compile QuorumKV's hot path with Cython.")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel jobs (2)")
    parser.add_argument("--log", metavar="FILE",
                        help="append Cython's and the C compiler's output to FILE")
    args = parser.parse_args(argv)
    if args.log:  # setuptools' own lines (each compiler command) make the log useful
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    missing = missing_tools()
    if missing is not None:
        print(f"{PREFIX} {missing} is not installed (pip install 'quorumkv[accel]' adds "
              f"it); QuorumKV runs as plain Python without the compiled build",
              file=sys.stderr)
        return 2
    return build(args.jobs, args.log)


if __name__ == "__main__":
    sys.exit(main())
