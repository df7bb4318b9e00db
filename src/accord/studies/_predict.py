"""Applying a model file at a site: ``accord predict MODEL --data CSV --out FILE``.

The site reads its new rows, checks them as the cohort loader checks a table (columns
present, cells parseable, no missing value unless the model's preprocessing imputes),
encodes them with the card's own preprocessing document, and scores them with the model
in eval mode. The output file stays at the site: it may carry the row identifier column
(the site's own data); messages and logs name columns and row numbers only.

Output columns (CSV): the card's ``id_column`` when the input has it, else ``row`` (the
1-based data row of the input, header excluded); then ``risk_score``, the model's linear
predictor (log relative hazard, higher = shorter survival) — the score the sites'
evaluation ranks, so its Harrell C on a site's test rows is the C the site reported.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from accord.core import (
    MIL_KINDS,
    AggregationError,
    ConfigError,
    DataError,
    TransportError,
    decode_arrays,
    format_rows,
)
from accord.data import feature_frame, read_table, validate_feature_table
from accord.models import build_model, set_arrays
from accord.studies._jsonio import write_bytes_atomic
from accord.studies._model_files import ModelCard, read_model_card

__all__ = ["Prediction", "UnknownLevels", "predict_file", "predict_rows"]

UnknownLevels = Literal["error", "ignore"]


@dataclass(frozen=True)
class Prediction:
    """What ``accord predict`` wrote: the card it applied and how many rows it scored."""

    card: ModelCard
    out: Path
    rows: int
    unknown_level_cells: int  # cells encoded as their feature's reference level


def _unknown_levels(
    features: pd.DataFrame, card: ModelCard, source: str, policy: UnknownLevels
) -> int:
    """Count categorical cells whose level is not among the card's; DataError naming the
    column and rows (never the level) when ``policy == "error"``."""
    prep = card.preprocessor
    problems, total = [], 0
    for name, kind in prep.kinds.items():
        if kind != "categorical":
            continue
        labels = features[name]
        unknown = (labels.notna() & ~labels.isin(list(prep.levels.get(name, ())))).to_numpy()
        count = int(unknown.sum())
        total += count
        if count:
            rows = format_rows([int(i) + 1 for i in np.flatnonzero(unknown)])
            problems.append(
                f"column '{name}' has {count} cell{'' if count == 1 else 's'} with a level the "
                f"model was not trained on ({rows}); expected one of its "
                f"{len(prep.levels.get(name, ()))} levels (or --unknown-levels ignore: "
                "encode them as the reference level)"
            )
    if problems and policy == "error":
        raise DataError(f"{source}: {'; '.join(problems)}")
    return total


def predict_rows(
    card: ModelCard, frame: pd.DataFrame, source: str, unknown_levels: UnknownLevels = "error"
) -> tuple[np.ndarray, int]:
    """(n,) float64 risk scores of ``frame``'s rows (indexed by 0-based data row of
    ``source``) and the number of unknown-level cells encoded as the reference."""
    if card.model.kind in MIL_KINDS:
        raise ConfigError(
            f"{card.path}: model kind '{card.model.kind}' scores tile features of slides; "
            "accord predict applies clinical models (linear_cox, mlp_cox)"
        )
    prep = card.preprocessor
    validate_feature_table(frame, prep.kinds, source, missing_ok=prep.missing != "error")
    features = feature_frame(frame, prep.kinds)
    unknown = _unknown_levels(features, card, source, unknown_levels)
    x = prep.transform(features)
    model = build_model(card.model, len(prep.columns), seed=0)
    try:
        set_arrays(model, decode_arrays(card.weights_path.read_bytes()))
    except (AggregationError, TransportError) as exc:  # not this model's arrays
        raise ConfigError(
            f"{card.weights_path}: not the weights of the card's model ({exc})"
        ) from None
    model.eval()
    with torch.no_grad():
        risk = model(torch.as_tensor(x, dtype=torch.float64)).numpy().astype(np.float64)
    return risk, unknown


def predict_file(
    model: Path, data: Path, out: Path, unknown_levels: UnknownLevels = "error"
) -> Prediction:
    """Score every row of the table ``data`` with ``model`` (card or weights path) and
    write ``out`` (CSV, write-then-rename); see the module docstring for its columns."""
    card = read_model_card(model)
    text = (card.id_column,) if card.id_column else ()
    frame = read_table(data, str(data), text)
    risk, unknown = predict_rows(card, frame, str(data), unknown_levels)
    columns: dict[str, object] = {}
    if card.id_column and card.id_column in frame.columns:
        columns[card.id_column] = frame[card.id_column].to_numpy()
    else:
        columns["row"] = np.arange(1, len(frame) + 1)
    columns["risk_score"] = risk
    buffer = io.StringIO()
    pd.DataFrame(columns).to_csv(buffer, index=False, float_format="%.17g")
    write_bytes_atomic(out, buffer.getvalue().encode("utf-8"))
    return Prediction(card=card, out=out, rows=len(frame), unknown_level_cells=unknown)
