"""The package metadata says what is true: its license is the LICENSE file's, and
its summary names only what exists."""

from __future__ import annotations

import os
import tomllib

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def project() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def test_the_license_file_is_the_license_pyproject_names():
    assert project()["license"] == {"text": "Apache-2.0"}
    with open(os.path.join(ROOT, "LICENSE")) as f:
        words = f.read().split()
    assert words[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in " ".join(words)


def test_the_summary_claims_nothing_that_is_only_planned():
    summary = project()["description"].lower()
    for planned in ("raft", "strong", "range partition", "linearizable"):
        assert planned not in summary, planned
    assert "redis" in summary and "dynamo" in summary
