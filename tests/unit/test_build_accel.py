"""Building the compiled hot path: where the build goes, progress on the terminal,
the tools' output in the log, and one line (no traceback) without Cython."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from quorumkv import accel

ROOT = os.path.dirname(accel.PACKAGE_DIR)
RUN_TIMEOUT_S = 240


def python(code: str, env: dict, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env={**os.environ, **env}, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def test_a_source_checkout_builds_beside_the_package():
    assert accel.default_build_dir(accel.PACKAGE_DIR, {}) == os.path.join(ROOT, "build", "accel")


def test_an_installed_package_builds_in_the_users_cache(tmp_path):
    site = tmp_path / "site-packages"
    (site / "quorumkv").mkdir(parents=True)  # no pyproject.toml beside it
    cache = tmp_path / "cache"
    built = accel.default_build_dir(str(site / "quorumkv"), {"XDG_CACHE_HOME": str(cache)})
    assert built.startswith(str(cache / "quorumkv" / "accel") + os.sep)
    assert not built.startswith(str(site))
    other = accel.default_build_dir(str(tmp_path / "other" / "quorumkv"),
                                    {"XDG_CACHE_HOME": str(cache)})
    assert other != built  # one directory per installed copy
    home = accel.default_build_dir(str(site / "quorumkv"), {})
    assert home.startswith(os.path.join(os.path.expanduser("~"), ".cache", "quorumkv"))
    override = accel.default_build_dir(str(site / "quorumkv"),
                                       {"QUORUMKV_ACCEL_DIR": str(tmp_path / "x")})
    assert override == str(tmp_path / "x")


def test_a_real_non_editable_install_does_not_build_into_site_packages(tmp_path):
    target = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                          "--no-build-isolation", "--no-index", "--target", str(target), ROOT],
                         capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert out.returncode == 0, out.stderr
    cache = tmp_path / "cache"
    shown = python("import quorumkv, quorumkv.accel as a; print(quorumkv.__file__); "
                   "print(a.BUILD_DIR)",
                   {"PYTHONPATH": str(target), "XDG_CACHE_HOME": str(cache),
                    "QUORUMKV_ACCEL_DIR": ""}, cwd=str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    package, build_dir = shown.stdout.split()
    assert package.startswith(str(target))  # the installed copy, not this checkout
    assert build_dir.startswith(str(cache / "quorumkv" / "accel"))
    assert not (target / "build").exists()


def test_without_cython_it_says_so_in_one_line(tmp_path):
    out = python("import sys, runpy; sys.modules['Cython'] = None; "
                 "sys.argv = ['build_accel']; "
                 "runpy.run_module('quorumkv.build_accel', run_name='__main__')",
                 {"QUORUMKV_ACCEL_DIR": str(tmp_path / "accel")})
    assert out.returncode == 2, out
    assert out.stdout == ""
    assert out.stderr == ("quorumkv.build_accel: Cython is not installed (pip install "
                          "'quorumkv[accel]' adds it); QuorumKV runs as plain Python "
                          "without the compiled build\n")
    assert not (tmp_path / "accel").exists()


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="no C compiler")
def test_the_build_prints_a_line_per_module_and_logs_the_tools_output(tmp_path):
    pytest.importorskip("Cython")
    log = tmp_path / "build.log"
    code = ("import sys, quorumkv.build_accel as b; "
            "b.MODULES = ('quorumkv.node.clock', 'quorumkv.core.consistency'); "
            f"sys.exit(b.main(['--log', {str(log)!r}]))")
    env = {"QUORUMKV_ACCEL_DIR": str(tmp_path / "accel"), "QUORUMKV_PURE": "1"}
    first = python(code, env)
    assert first.returncode == 0, (first.stdout, first.stderr, log.read_text())
    lines = first.stdout.splitlines()
    assert lines[0].startswith("quorumkv.build_accel: compiling 2 of 2 modules into "
                               f"{tmp_path / 'accel'}: Cython, then the C compiler")
    names = ["quorumkv.core.consistency", "quorumkv.node.clock"]
    for tool, block in (("cython", lines[1:3]), ("cc", lines[3:5])):  # in finishing order
        assert [line.split()[:2] for line in block] == [[tool, "1/2"], [tool, "2/2"]], lines
        assert sorted(line.split()[2] for line in block) == names, lines
    assert lines[5:] == [f"quorumkv.build_accel: 2 of 2 modules compiled in "
                         f"{tmp_path / 'accel'}"]
    assert first.stderr == ""
    assert "building 'quorumkv.core.consistency' extension" in log.read_text()  # setuptools'

    again = python(code, env)  # nothing changed: nothing to say but the result
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [f"quorumkv.build_accel: 2 of 2 modules compiled "
                                         f"in {tmp_path / 'accel'}"]


def test_a_failing_compiler_is_a_note_and_exit_code_1_not_a_traceback(tmp_path):
    pytest.importorskip("Cython")
    log = tmp_path / "build.log"
    code = ("import sys, quorumkv.build_accel as b; b.MODULES = ('quorumkv.node.clock',); "
            f"sys.exit(b.main(['--log', {str(log)!r}]))")
    out = python(code, {"QUORUMKV_ACCEL_DIR": str(tmp_path / "accel"), "CC": "false"})
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stderr == ""
    last = out.stdout.splitlines()[-1]
    assert last.startswith(f"quorumkv.build_accel: 0 of 1 modules compiled in "
                           f"{tmp_path / 'accel'} (the C compiler failed: "), out.stdout
    assert last.endswith(f"; see {log})")
    assert "Traceback" not in out.stdout
