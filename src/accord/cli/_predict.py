"""``accord predict MODEL --data CSV --out FILE``: apply a run's model file at a site.

Torch, pandas and the studies layer are imported inside the command, so that the CLI
(and ``accord predict --help``) starts without them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from accord.cli._errors import guarded

__all__ = ["predict"]

console = Console(soft_wrap=True, highlight=False)


class UnknownLevelsOpt(StrEnum):
    error = "error"
    ignore = "ignore"


def predict(
    model: Annotated[
        Path, typer.Argument(help="OUT/models/NAME.card.json, or the .safetensors beside it")
    ],
    data: Annotated[Path, typer.Option("--data", help="table of rows to score (CSV/Parquet)")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write (stays at this site)")],
    unknown_levels: Annotated[
        UnknownLevelsOpt,
        typer.Option(
            "--unknown-levels",
            help="a categorical level the model was not trained on: fail naming the column "
            "(error), or encode it as the reference level (ignore)",
        ),
    ] = UnknownLevelsOpt.error,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")] = (
        False
    ),
) -> None:
    """Score rows with a model file: checks the card, the weights' SHA-256 and the table,
    encodes the rows with the card's preprocessing and writes OUT with the id column (or
    ``row``, the 1-based data row) and ``risk_score`` (the linear predictor, log relative
    hazard: higher = shorter survival)."""

    def action() -> None:
        from accord.studies import predict_file

        done = predict_file(model, data, out, unknown_levels.value)
        console.print(f"scored {done.rows} rows with {done.card.name} ({done.card.path.name})")
        if done.unknown_level_cells:
            console.print(
                f"note: {done.unknown_level_cells} cells had a level the model was not "
                "trained on; encoded as their feature's reference level"
            )
        console.print(f"predictions: {out}")

    guarded(debug, action)
