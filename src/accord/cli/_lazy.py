"""Commands that import their module only when they run, and help text as plain sentences.

``accord --help`` lists every command with its one-line help, but importing every command
module pulls in pydantic, numpy, cryptography and the ledger's database drivers (about half
a second before anything is printed). The root group here lists each command from a
name, a module and a line of help, and imports the module when that command is resolved
(run, or asked for its own ``--help``). Click's documented answer to this is a ``Group``
subclass overriding ``get_command``; typer has no lazy loading of its own.

The docstrings behind the help text are written for the API docs (reST: double
backquotes, ``:func:`` roles, hard-wrapped lines). :func:`plain_help` turns them into
plain sentences that the terminal wraps, so the same docstring serves both readers.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["LazyCommand", "LazyGroup", "plain_help"]

# ``x`` -> x; :func:`x` / :class:`~a.b` -> x; `x` -> x (reST roles and literals).
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_SINGLE = re.compile(r"(?<![`\w])`([^`]+)`(?![`\w])")
_BULLET = re.compile(r"^\s*([-*•]|\d+[.)])\s")


def plain_help(text: str | None) -> str | None:
    """``text`` without reST markup, each paragraph on one line (bullets kept one a line).

    Rich then wraps the paragraphs to the terminal's width; a hard-wrapped docstring
    line would otherwise break again wherever the terminal is narrower than the source.
    A ``\\f`` line ends the help, as in click.
    """
    if not text:
        return text
    text = text.partition("\f")[0]
    text = _LITERAL.sub(r"\1", _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text))
    text = _SINGLE.sub(r"\1", text)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines: list[str] = []
        for line in block.splitlines():
            if lines and not _BULLET.match(line):
                lines[-1] = f"{lines[-1]} {line.strip()}"
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(" ".join(line.split()) for line in lines))
    return "\n\n".join(paragraphs)


def clean_help(command: Any) -> Any:
    """``command``, its parameters' help and (for a group) all its commands, in plain text."""
    command.rich_markup_mode = None  # click's plain formatter: no rich import, no markup
    command.help = plain_help(command.help)
    if command.short_help:
        command.short_help = plain_help(command.short_help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = plain_help(param.help)
    for sub in getattr(command, "commands", {}).values():
        clean_help(sub)
    return command


@dataclass(frozen=True)
class LazyCommand:
    """A command named in the root's listing: ``load`` builds it; ``help`` is its line there.

    ``load`` returns a ``typer.Typer`` (a command group) or a function (one command).
    A test checks that ``help`` is the loaded command's own first line.
    """

    load: Callable[[], Any]
    help: str

    def command(self, name: str) -> Any:
        """The click command ``name``, built from what ``load`` returns."""
        found = self.load()
        built: Any
        if isinstance(found, typer.Typer):
            built = typer.main.get_group(found)
        else:
            single = typer.Typer(add_completion=False)
            single.command(name)(found)
            built = typer.main.get_command(single)
        built.name = name
        built.short_help = self.help  # the line the root lists, wherever it is listed
        return clean_help(built)


class LazyGroup(TyperGroup):
    """A typer group whose ``lazy`` commands are imported when first resolved.

    While the group formats its own help, each lazy command is represented by a light
    placeholder command that holds only its one-line help, so listing the commands imports
    none of them.
    """

    lazy: ClassVar[dict[str, LazyCommand]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._loaded: dict[str, Any] = {}
        self._listing = False
        clean_help(self)

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        eager = super().get_command(ctx, cmd_name)
        if eager is not None or cmd_name not in self.lazy:
            return eager
        if self._listing and cmd_name not in self._loaded:
            return TyperCommand(cmd_name, help=self.lazy[cmd_name].help)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = self.lazy[cmd_name].command(cmd_name)
        return self._loaded[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def load(module: str, attribute: str) -> Callable[[], Any]:
    """A loader for :class:`LazyCommand`: ``accord.cli.<module>``'s ``attribute``."""
    return lambda: getattr(importlib.import_module(f"accord.cli.{module}"), attribute)
