"""Ctrl-C and SIGTERM during a run: stop at the next safe point, not mid-write.

While :func:`safe_points` is active, SIGINT and SIGTERM only note the signal; the run calls
:func:`stop_if_asked` between rounds and between its steps, which raises
:class:`RunInterrupted` there, so that no ledger entry, checkpoint or file is cut in half.
A second signal stops at once (the default action), for a run stuck in one long step.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from accord.studies import RunStopped

__all__ = ["RunInterrupted", "safe_points", "stop_if_asked"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_asked: list[int] = []  # the signal received, if any, while safe points are active


class RunInterrupted(RunStopped):
    """A signal asked the run to stop; raised at a safe point. Exit code 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _note(signum: int, frame: FrameType | None) -> None:
    if _asked:  # the second one: stop now
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
    _asked.append(signum)


def stop_if_asked() -> None:
    """Raise :class:`RunInterrupted` if a signal arrived since :func:`safe_points` began."""
    if _asked:
        raise RunInterrupted(_asked[0])


@contextmanager
def safe_points() -> Iterator[None]:
    """Defer SIGINT and SIGTERM to :func:`stop_if_asked` (in the main thread only)."""
    _asked.clear()
    try:
        previous = {s: signal.signal(s, _note) for s in _SIGNALS}
    except ValueError:  # not the main thread (e.g. a test runner's worker): signals as usual
        yield
        return
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _asked.clear()
