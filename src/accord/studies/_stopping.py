"""Stopping a run between rounds: light to import (the CLI's signal handling uses it)."""

from __future__ import annotations

__all__ = ["RunStopped"]


class RunStopped(BaseException):  # like KeyboardInterrupt: a request to stop, not an error
    """Raised by a ``progress`` callback to stop a run between rounds (Ctrl-C in the CLI):
    :func:`run_study` ends the ledger it opened in a co-signed checkpoint, closes it and
    raises this on; the plans' checkpoints let a later run carry on."""
