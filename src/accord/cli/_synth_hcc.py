"""``accord synth hcc``: a synthetic HCC-after-resection consortium (slides + clinical)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from accord.cli._errors import guarded

if TYPE_CHECKING:
    from accord.synth import HCCConsortium

__all__ = ["hcc"]

console = Console(soft_wrap=True)


def hcc(
    out: Annotated[Path, typer.Option("--out", help="folder for the consortium")],
    sites: Annotated[int, typer.Option("--sites", min=1, help="number of hospitals")] = 3,
    patients: Annotated[int, typer.Option("--patients", min=1, help="patients per site")] = 60,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    slide_size: Annotated[
        int, typer.Option("--slide-size", min=128, help="slide width and height in pixels")
    ] = 2048,
    pattern_log_hr: Annotated[
        float,
        typer.Option(
            "--pattern-log-hr", help="log hazard ratio of the pattern at its largest extent"
        ),
    ] = 2.0,
    debug: Annotated[bool, typer.Option("--debug")] = False,
) -> None:
    """Sites with H&E slides (planted macrotrabecular pattern), clinical tables and truth."""

    def action() -> None:
        from accord.synth import generate_hcc_consortium  # scipy, pandas: not at startup

        start = time.perf_counter()
        consortium = generate_hcc_consortium(
            out,
            sites=sites,
            patients=patients,
            seed=seed,
            slide_size=slide_size,
            pattern_log_hr=pattern_log_hr,
        )
        elapsed = time.perf_counter() - start
        console.print(_summary_table(consortium))
        console.print(
            f"oracle C-index (true linear predictor, OS): {consortium.oracle_cindex():.3f}; "
            f"written to {consortium.root} in {elapsed:.1f} s; truth in {consortium.truth.name}"
        )

    guarded(debug, action)


def _summary_table(consortium: HCCConsortium) -> Table:
    table = Table(title=f"synthetic HCC consortium, {len(consortium.sites)} sites")
    for column in ("site", "patients", "OS events", "RFS events", "pattern prevalence"):
        table.add_column(column, justify="left" if column == "site" else "right")
    for s in consortium.summary():
        table.add_row(
            s.site,
            str(s.patients),
            f"{s.os_event_rate:.0%}",
            f"{s.rfs_event_rate:.0%}",
            f"{s.pattern_prevalence:.0%}",
        )
    return table
