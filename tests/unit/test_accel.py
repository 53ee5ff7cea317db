"""The compiled hot path is used exactly where it matches the source."""

from __future__ import annotations

import importlib.machinery
import os
import sys

import pytest

from quorumkv import accel


def test_a_compiled_module_is_used_only_while_its_source_is_unchanged(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("VALUE = 1\n")
    compiled = tmp_path / ("probe" + importlib.machinery.EXTENSION_SUFFIXES[0])
    compiled.write_bytes(b"not loaded by this test")
    finder = accel.CompiledFinder({"probe": {"so": str(compiled),
                                             "sha256": accel.digest(str(source))}},
                                  source_of=lambda name: str(source))

    spec = finder.find_spec("probe")
    assert spec is not None and spec.origin == str(compiled)
    assert isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)
    assert finder.find_spec("other") is None  # not in the build: not ours

    source.write_text("VALUE = 2\n")  # edited since the build: the source wins
    assert finder.find_spec("probe") is None
    assert finder.stale == ["probe"]

    source.write_text("VALUE = 1\n")
    compiled.unlink()  # built once, since removed
    assert finder.find_spec("probe") is None


def test_a_manifest_for_another_interpreter_is_ignored(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"ext_suffix": ".cpython-39-x.so", "modules": {"a": '
                        '{"so": "a.so", "sha256": "00"}}}')
    assert accel.read_manifest(str(manifest)) == {}
    assert accel.read_manifest(str(tmp_path / "missing.json")) == {}


def test_every_hot_module_exists():
    for module in accel.MODULES:
        assert os.path.exists(accel.source_path(module)), module


def test_this_process_runs_the_build_where_it_matches():
    """Under ``make test`` the build exists: every hot module whose source is
    unchanged since it must come from the build (and none with QUORUMKV_PURE)."""
    entries = accel.read_manifest()
    if not entries:
        pytest.skip("no compiled build (python -m quorumkv.build_accel)")
    for module in accel.MODULES:
        __import__(module)
        origin = sys.modules[module].__file__
        fresh = (module in entries
                 and accel.digest(accel.source_path(module)) == entries[module]["sha256"])
        if accel.pure_requested() or not fresh:
            assert origin == accel.source_path(module)
        else:
            assert origin == entries[module]["so"]


def test_the_declarations_are_part_of_a_modules_digest(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("class A:\n    pass\n")
    plain = accel.digest(str(source))
    (tmp_path / "probe.pxd").write_text("cdef class A:\n    cdef public object x\n")
    declared = accel.digest(str(source))
    assert plain != declared  # a new .pxd means a different compiled module
    (tmp_path / "probe.pxd").write_text("cdef class A:\n    cdef public object y\n")
    assert accel.digest(str(source)) not in (plain, declared)
