"""Raft scenario scripts (runner.py has the format and the commands).

Each file under ``testdata/`` is run command by command; the trace must be what the
file says. ``pytest tests/unit/raft --rewrite`` writes the current trace into the
files instead: review the diff before committing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..datadriven import check_file
from .runner import parse, render, run_file

TESTDATA = Path(__file__).parent / "testdata"
SCENARIOS = sorted(TESTDATA.glob("*.txt"))


def test_there_are_scenarios():
    assert len(SCENARIOS) >= 7


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario(path, request):
    check_file(path, run_file, request)


def test_the_format_round_trips():
    text = "# a comment\nadd-nodes 1 voters=(1)\n----\n1: term 0\n\nraft-state\n----\nok\n"
    assert render(parse(text)) == text
