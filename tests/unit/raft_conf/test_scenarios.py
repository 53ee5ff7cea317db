"""Membership-change scripts (runner.py has the format).

Each file under ``testdata/`` runs command by command and must print what the file
says; ``pytest tests/unit/raft_conf --rewrite`` writes the current output into the
files instead: review the diff before committing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..datadriven import check_file
from .runner import Harness, run_file

TESTDATA = Path(__file__).parent / "testdata"
SCENARIOS = sorted(TESTDATA.glob("*.txt"))


def test_there_are_scenarios():
    assert len(SCENARIOS) >= 6


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario(path, request):
    check_file(path, run_file, request)


def test_the_harness_reports_a_config_that_does_not_restore():
    # the MISMATCH line is what catches a broken restore in every script
    harness = Harness()
    harness.run("restore voters=n1,n2")
    harness.progress = {"n1": False}  # progress lost n2: restore disagrees
    assert harness._mismatch() and harness._mismatch()[0].startswith("MISMATCH")
