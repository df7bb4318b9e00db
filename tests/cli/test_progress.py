"""Progress when stdout is not a terminal: one timed plain line per step."""

from __future__ import annotations

import io
import re

from rich.console import Console

from accord.cli._progress import RunProgress
from accord.net import Reply

LINE = re.compile(r"^\[ *\d+\.\d s\] \S")


def _plain() -> tuple[RunProgress, io.StringIO]:
    out = io.StringIO()
    return RunProgress(Console(file=out, width=200), every=5), out


def _wire(site: str, kind: str) -> bytes:
    return Reply(task_id=f"t-{site}-{kind}", site=site, kind=kind).to_wire()  # type: ignore[arg-type]


def test_rounds_every_n_and_steps_with_elapsed_time() -> None:
    shown, out = _plain()
    with shown.showing():
        shown.step("setting up the sites")
        for site in ("a", "b"):
            shown.reply(site, _wire(site, "setup"))
        for done in range(1, 11):
            shown.rounds("fedavg", done, 10)
            shown.reply("a", _wire("a", "secagg.mask"))  # a secure sum is no step
        for site in ("a", "b"):
            shown.reply(site, _wire(site, "evaluate"))
    lines = out.getvalue().splitlines()
    assert all(LINE.match(line) for line in lines), lines
    assert [line.split("] ", 1)[1] for line in lines] == [
        "setting up the sites",
        "a: set up (cohort checked, tile features extracted)",
        "b: set up (cohort checked, tile features extracted)",
        "fedavg: round 1/10",
        "fedavg: round 5/10",
        "fedavg: round 10/10",
        "fedavg: evaluating at every site",
    ]


def test_a_terminal_gets_the_live_display_not_lines() -> None:
    out = io.StringIO()
    shown = RunProgress(Console(file=out, width=100, force_terminal=True))
    with shown.showing():
        shown.step("setting up the sites")
        shown.rounds("fedavg", 1, 10)
    assert not re.search(r"\[ *\d+\.\d s\]", out.getvalue())
