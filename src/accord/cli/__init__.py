"""The ``accord`` command line (typer): one module per command group."""

from __future__ import annotations

from accord.cli._app import app, main

__all__ = ["app", "main"]
