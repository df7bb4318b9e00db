"""Checks that a command line written in the docs or a deploy file is a real ``accord``
command: its subcommand path answers ``--help`` and every ``--option`` shown is one of its
options."""

from __future__ import annotations

import shlex

from typer.testing import CliRunner

from accord.cli import app

__all__ = ["accord_lines", "check_command"]


def check_command(argv: list[str]) -> None:
    """``argv`` (the words after ``accord``) names a real command and only its options.

    The subcommand path is the words before the first that looks like a path or value
    (holds ``/`` or ``.``) or is an option.
    """
    command: list[str] = []
    for word in argv:
        if word.startswith("-") or "/" in word or "." in word:
            break
        command.append(word)
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, f"accord {' '.join(command)}: {result.output}"
    for option in (w.split("=", 1)[0] for w in argv if w.startswith("--")):
        assert option in result.output, f"accord {' '.join(command)} has no {option}"


def accord_lines(text: str) -> list[list[str]]:
    """The ``accord ...`` command lines of ``text``'s code blocks (words after ``accord``,
    continuation lines joined, comments dropped)."""
    out = []
    for block in text.split("```")[1::2]:
        if block.startswith("toml"):
            continue
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("accord "):
                out.append(shlex.split(line, comments=True)[1:])
    return out
