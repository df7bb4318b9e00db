"""One clear line and the error class's exit code; a traceback only with --debug."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["guarded"]

T = TypeVar("T")
_stderr = Console(stderr=True)


def guarded(debug: bool, action: Callable[[], T]) -> T:
    """Run ``action``; turn an AccordError into ``error: ...`` on stderr and its exit code."""
    from accord.core import (  # here: accord.core imports numpy and pydantic
        AccordError,
        MissingFileError,
    )

    try:
        return action()
    except AccordError as exc:
        if debug:
            raise
        message = escape(f"{type(exc).__name__}: {exc}")
        _stderr.print(f"[bold red]error[/]: {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=exc.exit_code) from None
    except OSError as exc:  # one a library let through: still one line, naming the file
        if debug:
            raise
        missing = isinstance(exc, FileNotFoundError)
        name = MissingFileError.__name__ if missing else type(exc).__name__
        where = f"{Path(exc.filename).absolute()}: " if exc.filename else ""
        message = escape(f"{name}: {where}{exc.strerror or 'cannot be read or written'}")
        _stderr.print(f"[bold red]error[/]: {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=MissingFileError.exit_code if missing else 1) from None
    except KeyboardInterrupt:
        _stderr.print("interrupted; nothing was written")
        sys.exit(130)
