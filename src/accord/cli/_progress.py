"""What a run shows while it works: rich bars in a terminal, plain timed lines elsewhere.

In a terminal a :class:`rich.progress.Progress` shows the current step and each method's
rounds. When stdout is not a terminal (a log, ``| tee``, CI) a live display prints
nothing until it ends, so :class:`RunProgress` prints one line per step instead, each
with the seconds since the run began: every site's setup, each method's rounds every
``every`` rounds, each evaluation, the report. Lines name sites and methods, never a
count of one site's patients.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["RunProgress"]

# a reply of these kinds opens a step (first reply after another kind); "setup" and
# "local_baseline" are slow at every site, so each site's reply is a line of its own
_STEPS = {
    "evaluate": "evaluating at every site",
    "interpret": "sites rendering heatmaps",
    "export_tiles": "sites exporting tiles their policies release",
    "risk_summary": "risk groups from summed counts",
}
_PER_SITE = {
    "setup": "{site}: set up (cohort checked, tile features extracted)",
    "local_baseline": "{site}: local-only model trained and scored at home",
}


class RunProgress:
    """Progress of one run on ``console`` (live while :meth:`showing`).

    :meth:`rounds` is a study run's ``progress`` callback (label, rounds done, rounds),
    :meth:`reply` its ``observer`` (site, reply wire bytes), :meth:`step` a step of the
    command's own (generating data, writing the report).
    """

    def __init__(self, console: Console, every: int = 5, clock: float | None = None) -> None:
        self.console = console
        self.every = every
        self.start = time.perf_counter() if clock is None else clock
        self.live = console.is_terminal
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._step: TaskID | None = None
        self._kind = ""  # the kind of the last reply that was no secure-sum message
        self._label = ""  # the method trained last

    @contextmanager
    def showing(self) -> Iterator[RunProgress]:
        """While open, a terminal shows the live display (it vanishes when done)."""
        if not self.live:
            yield self
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeElapsedColumn(), console=self.console, transient=True) as bar:
            self._bar, self._step = bar, bar.add_task("starting", total=None)
            try:
                yield self
            finally:
                self._bar = None

    def step(self, text: str) -> None:
        """A step begins: the live display's top line, or one timed plain line."""
        if self._bar is not None and self._step is not None:
            self._bar.update(self._step, description=text)
        elif not self.live:  # in a terminal, steps after the live display are quick
            elapsed = time.perf_counter() - self.start
            self.console.print(f"[{elapsed:6.1f} s] {text}", markup=False, highlight=False)

    def rounds(self, label: str, done: int, total: int) -> None:
        """``label``'s training has run ``done`` of ``total`` rounds."""
        if self._bar is not None:
            if label not in self._tasks:
                self._tasks[label] = self._bar.add_task(label, total=total)
            self._bar.update(self._tasks[label], completed=done)
            return
        if done == 1 or done == total or done % self.every == 0:
            self.step(f"{label}: round {done}/{total}")
        self._kind, self._label = "train", label

    def reply(self, site: str, wire: bytes) -> None:
        """A site's reply (its wire bytes): a line when it opens a step."""
        from accord.net import Reply

        kind = Reply.from_wire(wire).kind
        if kind.startswith("secagg.") or kind == "ledger_sync":
            return  # the messages of a secure sum and co-signatures belong to their step
        if kind in _PER_SITE:
            self.step(_PER_SITE[kind].format(site=site))
        elif kind in _STEPS and kind != self._kind:
            text = _STEPS[kind]
            if kind == "evaluate" and self._label:
                text = f"{self._label}: {text}"
            self.step(text)
        self._kind = kind
