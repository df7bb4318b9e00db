"""The consortium's preprocessing: standardisation and one-hot encoding of a site's rows.

A :class:`Preprocessor` is fitted by the hub from the sites' summed statistics (see
:mod:`accord.data._statistics`), never from pooled rows, and sent to every site, which
applies it to its own rows with :meth:`Preprocessor.transform`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from accord.core import (
    CohortSpec,
    ConfigError,
    DataError,
    FeatureKind,
)
from accord.data._cohort import SiteCohort
from accord.data._parsing import Parsed, category_labels, parse_flag, parse_numeric
from accord.data._validation import cell_problems, raise_problems

__all__ = ["Preprocessor", "check_complete", "moments_to_scales"]

_EXPECTED_VALUE = 'a value (or preprocessing.missing = "impute_mean")'
_ZERO_VARIANCE = 1e-12  # relative to the mean square: below this a column is constant


def _parse(column: pd.Series, kind: FeatureKind) -> Parsed:
    return parse_flag(column) if kind == "binary" else parse_numeric(column)


def check_complete(train: SiteCohort, spec: CohortSpec) -> None:
    """DataError naming columns and rows of ``train``'s missing feature values."""
    rows = train.source_rows if train.source_rows is not None else np.arange(1, train.n + 1)
    problems: list[str] = []
    for name in spec.features:
        missing = train.features[name].isna().to_numpy()
        if missing.any():
            problems += cell_problems(name, missing, rows, "missing value", _EXPECTED_VALUE)
    raise_problems(f"{train.source} (site '{train.site}')", problems)


@dataclass(frozen=True, eq=False)
class Preprocessor:
    """Turns a site's raw ``features`` into a float64 design matrix.

    ``columns`` are the output names (``"age"``, ``"stage=II"``) in spec order, a
    categorical expanded in place into one column per kept level after the reference
    (its first kept level). ``means`` and ``scales`` (shape ``(len(columns),)``) centre
    and scale every output column, one-hot ones included (0 and 1 when not
    standardising; scale 1 for a constant column). ``fill`` is the raw-unit value
    (pooled train mean) put into a missing numeric or binary cell when ``missing`` is
    ``"impute_mean"``; a missing, unseen or suppressed level encodes as the reference.
    """

    columns: tuple[str, ...]
    means: np.ndarray
    scales: np.ndarray
    levels: Mapping[str, tuple[str, ...]]
    kinds: Mapping[str, FeatureKind]
    fill: Mapping[str, float]
    missing: str = "error"

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Design matrix of shape ``(len(features), len(columns))``, float64.

        Raises DataError naming columns and 1-based row positions in ``features`` for
        absent columns, unparseable cells, or missing cells when ``missing == "error"``.
        """
        absent = [name for name in self.kinds if name not in features.columns]
        if absent:
            raise DataError(f"features: missing column(s) {', '.join(map(repr, absent))}")
        rows = np.arange(1, len(features) + 1)
        blocks: list[np.ndarray] = []
        problems: list[str] = []
        for name, kind in self.kinds.items():
            if kind == "categorical":
                block, found = self._one_hot(features[name], name, rows)
            else:
                block, found = self._number(features[name], name, kind, rows)
            blocks.append(block)
            problems += found
        raise_problems("features", problems)
        matrix = np.column_stack(blocks) if blocks else np.zeros((len(features), 0))
        return cast(np.ndarray, (matrix - self.means) / self.scales)

    def _number(
        self, column: pd.Series, name: str, kind: FeatureKind, rows: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        parsed = _parse(column, kind)
        expected = "a number" if kind == "numeric" else "0/1 or True/False"
        problems = cell_problems(name, parsed.bad, rows, "unusable value", expected)
        if self.missing == "error":
            problems += cell_problems(name, parsed.missing, rows, "missing value", _EXPECTED_VALUE)
        values = np.where(np.isnan(parsed.values), self.fill[name], parsed.values)
        return values[:, None], problems

    def _one_hot(
        self, column: pd.Series, name: str, rows: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        labels = category_labels(column)
        problems: list[str] = []
        if self.missing == "error":
            missing = labels.isna().to_numpy()
            problems = cell_problems(name, missing, rows, "missing value", _EXPECTED_VALUE)
        encoded = [(labels == level).to_numpy(dtype=np.float64) for level in self.levels[name][1:]]
        block = np.column_stack(encoded) if encoded else np.zeros((len(column), 0))
        return block, problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (floats as JSON numbers; they round-trip exactly).

        ``feature_order`` lists the input features in the order their blocks appear in
        ``columns``: a JSON object's key order does not survive ``sort_keys`` (results.json,
        canonical JSON), so :meth:`from_dict` takes the order from this list.
        """
        return {
            "feature_order": list(self.kinds),
            "columns": list(self.columns),
            "means": [float(v) for v in self.means],
            "scales": [float(v) for v in self.scales],
            "levels": {f: list(v) for f, v in self.levels.items()},
            "kinds": dict(self.kinds),
            "fill": {f: float(v) for f, v in self.fill.items()},
            "missing": self.missing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessor:
        """Inverse of :meth:`to_dict`, whatever the order of the document's keys.

        The features keep ``feature_order`` (or, in a document written before it existed,
        the order of their blocks in ``columns``). ConfigError when a field is absent or
        the fields do not describe one design matrix.
        """
        try:
            kinds = {str(f): cast(FeatureKind, k) for f, k in data["kinds"].items()}
            levels = {str(f): tuple(map(str, v)) for f, v in data["levels"].items()}
            columns = tuple(str(c) for c in data["columns"])
            order = data.get("feature_order")
            names = [str(f) for f in order] if order is not None else None
            prep = cls(
                columns=columns,
                means=np.asarray(data["means"], dtype=np.float64).reshape(-1),
                scales=np.asarray(data["scales"], dtype=np.float64).reshape(-1),
                levels=levels,
                kinds={f: kinds[f] for f in names or _block_order(kinds, levels, columns)},
                fill={str(f): float(v) for f, v in data["fill"].items()},
                missing=str(data["missing"]),
            )
        except KeyError as exc:
            raise ConfigError(f"preprocessor: field {exc} is missing") from None
        except (TypeError, ValueError, AttributeError):
            raise ConfigError("preprocessor: a field has the wrong type") from None
        prep.check()
        return prep

    def check(self) -> None:
        """ConfigError unless ``kinds``, ``levels``, ``columns``, ``means`` and ``scales``
        describe one design matrix (the columns the features' blocks expand to)."""
        expected = tuple(_block_columns(self.kinds, self.levels))
        if expected != self.columns:
            raise ConfigError(
                "preprocessor: 'columns' are not the blocks of 'feature_order' (expected "
                f"{len(expected)} columns in feature order, found {len(self.columns)})"
            )
        if self.means.shape != (len(self.columns),) or self.scales.shape != self.means.shape:
            raise ConfigError(
                f"preprocessor: 'means' and 'scales' must have {len(self.columns)} values each"
            )
        if not (np.all(np.isfinite(self.means)) and np.all(self.scales > 0)):
            raise ConfigError("preprocessor: 'means' must be finite and 'scales' positive")
        numbers = [f for f, k in self.kinds.items() if k != "categorical"]
        if any(f not in self.fill for f in numbers):
            raise ConfigError("preprocessor: 'fill' must hold every numeric or binary feature")


def _block_columns(
    kinds: Mapping[str, FeatureKind], levels: Mapping[str, Sequence[str]]
) -> list[str]:
    """The output columns of ``kinds`` in order (a categorical: one per level after the
    reference)."""
    out: list[str] = []
    for name, kind in kinds.items():
        if kind == "categorical":
            out += [f"{name}={level}" for level in levels.get(name, ())[1:]]
        else:
            out.append(name)
    return out


def _block_order(
    kinds: Mapping[str, FeatureKind],
    levels: Mapping[str, Sequence[str]],
    columns: Sequence[str],
) -> list[str]:
    """Features ordered by where their first output column appears in ``columns``; a
    categorical with no column of its own (one kept level) goes last: it encodes to nothing."""
    where = {c: i for i, c in enumerate(columns)}
    first: dict[str, float] = {}
    for name in kinds:
        own = _block_columns({name: kinds[name]}, levels)
        first[name] = min((where.get(c, math.inf) for c in own), default=math.inf)
    return sorted(kinds, key=lambda f: first[f])


def moments_to_scales(
    moments: Sequence[tuple[float, float, float]], standardise: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Centres and scales of the output columns from their (mean, variance, mean square);
    a column whose variance is negligible against its mean square keeps scale 1."""
    if not standardise:
        return np.zeros(len(moments)), np.ones(len(moments))
    means = np.array([m for m, _, _ in moments], dtype=np.float64)
    scales = np.array(
        [math.sqrt(v) if v > _ZERO_VARIANCE * max(sq, 1e-300) else 1.0 for _, v, sq in moments],
        dtype=np.float64,
    )
    return means, scales
