"""Builds the compiled hot path (see quorumkv/accel.py): ``python -m quorumkv.build_accel``.

Needs Cython (``pip install '.[accel]'``) and a C compiler with the Python headers.
"""

from __future__ import annotations

import fcntl
import importlib.machinery
import json
import os
import shutil
import sys

from .accel import BUILD_DIR, CYTHON_DIRECTIVES, MANIFEST, MODULES, digest, source_path


def build(jobs: int = 2) -> int:
    """Compile :data:`MODULES` into :data:`BUILD_DIR`. Each module is compiled from
    a copy of its source (and ``.pxd``), whose digest goes into the manifest: the
    compiled code is exactly what the recorded digest names. Unchanged modules are
    not rebuilt. One build at a time (a lock file); a module being rebuilt leaves
    the manifest before its old files are removed, so an interrupted build leaves
    it plain Python rather than paired with the wrong code."""
    os.makedirs(BUILD_DIR, exist_ok=True)
    with open(os.path.join(BUILD_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(jobs)


def _build(jobs: int) -> int:
    import Cython  # the accel extra: pip install '.[accel]'
    from Cython.Build import cythonize
    from setuptools import Distribution

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
        copy = copies[module]
        for stale in (copy[:-3] + ".c", os.path.join(BUILD_DIR, *module.split(".")) + suffix):
            if os.path.exists(stale):
                os.remove(stale)
        declarations = source_path(module)[:-3] + ".pxd"
        if os.path.exists(declarations):
            shutil.copyfile(declarations, copy[:-3] + ".pxd")
        elif os.path.exists(copy[:-3] + ".pxd"):
            os.remove(copy[:-3] + ".pxd")
        shutil.copyfile(source_path(module), copy)
    extensions = cythonize(list(copies.values()), compiler_directives=CYTHON_DIRECTIVES,
                           nthreads=jobs, quiet=True)
    for extension in extensions:  # the generated C's warnings are Cython's business
        extension.extra_compile_args = ["-w"]
    dist = Distribution({"ext_modules": extensions, "script_name": "quorumkv.accel",
                         "script_args": ["build_ext", "--build-lib", BUILD_DIR,
                                         "--build-temp", os.path.join(BUILD_DIR, "tmp"),
                                         "-j", str(jobs)]})
    dist.parse_command_line()
    dist.run_commands()
    modules = {}
    for module, copy in copies.items():
        so = os.path.join(*module.split(".")) + suffix
        if os.path.exists(os.path.join(BUILD_DIR, so)):
            modules[module] = {"so": so, "sha256": digest(copy)}
    _write_manifest(suffix, settings, modules)
    print(f"quorumkv.build_accel: {len(modules)} of {len(MODULES)} modules compiled in {BUILD_DIR}")
    return 0 if len(modules) == len(MODULES) else 1


def _write_manifest(suffix: str, settings: str, modules: dict) -> None:
    tmp = MANIFEST + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"ext_suffix": suffix, "settings": settings, "modules": modules}, f,
                  indent=1)
    os.replace(tmp, MANIFEST)


if __name__ == "__main__":
    sys.exit(build())
