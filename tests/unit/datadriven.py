"""The data-driven script format every scenario runner shares (eventual core,
Raft, membership changes): a command line, a ``----`` line, the output up to a
blank line; ``#`` lines and blank lines between blocks are comments. A runner
brings a harness with ``run(command) -> output lines``; ``check_file`` compares a
file with what the harness prints now, or with ``--rewrite`` writes it back.
"""

from __future__ import annotations

import difflib
from pathlib import Path

SEPARATOR = "----"


def parse(text: str) -> list[tuple[list[str], str | None, list[str]]]:
    """``[(comments before, command, output lines)]``; trailing comments come last
    with command None."""
    blocks, comments = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            comments.append(line)
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1] != SEPARATOR:
            raise ValueError(f"line {i + 1}: a command must be followed by {SEPARATOR!r}")
        output = []
        i += 2
        while i < len(lines) and lines[i].strip():
            output.append(lines[i])
            i += 1
        blocks.append((comments, line, output))
        comments = []
    if comments:
        blocks.append((comments, None, []))
    return blocks


def render(blocks, empty: str | None = None) -> str:
    """The text of ``blocks``; a command with no output shows ``empty`` if given."""
    out = []
    for comments, command, output in blocks:
        out.extend(comments)
        if command is not None:
            out.extend([command, SEPARATOR, *(output or ([empty] if empty else []))])
    return "\n".join(out).rstrip("\n") + "\n"


def run_file(path: Path, harness, empty: str | None = None) -> tuple[str, str]:
    """The file's text and what it would be with ``harness``'s output now."""
    text = path.read_text()
    blocks = [(comments, command, harness.run(command) if command is not None else [])
              for comments, command, _ in parse(text)]
    return text, render(blocks, empty)


def check_file(path: Path, run_file, request) -> None:
    """Fail with a diff unless the file is what ``run_file(path)`` prints now;
    with ``--rewrite``, write that instead."""
    text, got = run_file(path)
    if request.config.getoption("--rewrite"):
        if got != text:
            path.write_text(got)
        return
    diff = "".join(difflib.unified_diff(text.splitlines(True), got.splitlines(True),
                                        "expected", "got"))
    assert got == text, f"{path.name} (rerun with --rewrite and review):\n{diff}"
