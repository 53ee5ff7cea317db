"""Scenario scripts over the pure eventual core (runner.py has the format).

Each file under ``testdata/`` is run command by command; the output must be what
the file says. ``pytest tests/unit/scenarios --rewrite`` writes the current output
into the files instead: review the diff before committing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..datadriven import check_file
from .runner import parse, render, run_file

TESTDATA = Path(__file__).parent / "testdata"
SCENARIOS = sorted(TESTDATA.glob("*.txt"))


def test_there_are_scenarios():
    assert len(SCENARIOS) >= 12


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario(path, request):
    check_file(path, run_file, request)


def test_the_format_round_trips():
    text = "# a comment\ncluster me=n1\n----\n\nslow\n----\nline one\nline two\n"
    assert render(parse(text)) == text


def test_a_command_without_separator_is_refused():
    with pytest.raises(ValueError, match="followed by"):
        parse("slow\nslow\n")
