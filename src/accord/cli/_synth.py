"""``accord synth``: generate synthetic data to try the pipelines without patient data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from accord.cli._errors import guarded
from accord.cli._synth_hcc import hcc
from accord.core import ConfigError

__all__ = ["synth_app"]

synth_app = typer.Typer(help="Synthetic slides, cohorts and consortia, for trials and tests.")
console = Console(soft_wrap=True)


def _patterns(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        name, _, fraction = item.partition("=")
        try:
            out[name] = float(fraction)
        except ValueError:
            raise ConfigError(f"--pattern {item}: expected NAME=FRACTION, e.g. vetc=0.2") from None
    return out


@synth_app.command()
def slides(
    out: Annotated[Path, typer.Argument(help="folder for the slides")],
    n: Annotated[int, typer.Option("--n", min=1)] = 3,
    size: Annotated[int, typer.Option("--size", help="width and height in pixels")] = 4096,
    mpp: Annotated[float, typer.Option("--mpp")] = 0.5,
    profile: Annotated[str, typer.Option("--profile", help="hospital stain/scanner")] = (
        "hospital_a"
    ),
    pattern: Annotated[list[str] | None, typer.Option("--pattern")] = None,
    pen_marks: Annotated[bool, typer.Option("--pen-marks")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    debug: Annotated[bool, typer.Option("--debug")] = False,
) -> None:
    """Pyramidal OME-TIFF slides of tissue-like texture (and their planted ground truth)."""

    def action() -> None:
        from accord.synth import write_slide  # imports scipy and pandas: not at startup

        planted = _patterns(pattern or [])
        out.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            s = write_slide(
                out / f"slide_{i:04d}.ome.tif",
                width=size,
                height=size,
                mpp=mpp,
                seed=seed + i,
                profile=profile,
                patterns=planted,
                pen_marks=pen_marks,
            )
            fractions = {k: round(v, 3) for k, v in s.pattern_fractions().items() if v}
            console.print(
                f"{s.path}: {size}×{size} px at {mpp} µm/px, "
                f"tissue {s.tissue_mask.mean():.0%}, planted {fractions or 'none'}"
            )

    guarded(debug, action)


@synth_app.command()
def cohort(
    out: Annotated[Path, typer.Argument(help="folder for cohort.csv")],
    sites: Annotated[int, typer.Option("--sites", min=1, max=26)] = 3,
    patients: Annotated[int, typer.Option("--patients", min=10, help="per site")] = 150,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    debug: Annotated[bool, typer.Option("--debug")] = False,
) -> None:
    """One CSV with a site column (pid, site, time_days, event, age, stage, smoker), the
    format of docs/quickstart.md; invented patients with known hazard ratios."""

    def action() -> None:
        from accord.core import write_bytes_atomic
        from accord.synth import simulate_cohort_csv  # imports pandas: not at startup

        frame = simulate_cohort_csv(sites, patients, seed)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "cohort.csv"
        write_bytes_atomic(path, frame.to_csv(index=False).encode())
        console.print(f"{path}: {sites} sites × {patients} patients, {frame.event.sum()} events")

    guarded(debug, action)


synth_app.command("hcc")(hcc)
