"""Coefficients of a fitted linear Cox model: HR, Wald interval and p per feature (hub side).

A linear Cox model's weights act on the consortium-standardised design matrix
(:class:`accord.data.Preprocessor`: ``x_std = (x - mean) / scale``, one 0/1 column per
categorical level after the reference). A weight ``b`` per standardised unit is
``b / scale`` per unit of the feature (per unit of the dummy column, i.e. level vs
reference, for a level), and so is its standard error; the centring moves no Cox
coefficient (it has no intercept). Wald statistics are the same on both scales.

The standard errors come from the inverse of the *observed information* summed over the
sites (the negative Hessian of the stratified partial log-likelihood at the fitted
coefficients; for a penalised fit, the penalised information ``-H + l2·n·I`` with
lifelines' penalty scaling, which is what ``lifelines.CoxPHFitter(penalizer=l2)`` reports).
Hand-written: lifelines computes this only from rows, which the hub never holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the CLI's summary imports Coefficient: no pandas or scipy at startup
    from accord.data import Preprocessor

__all__ = ["Coefficient", "CoefficientTable", "coefficient_table", "estimability_note"]


@dataclass(frozen=True)
class Coefficient:
    """One feature's row: log hazard ratio ``coef`` with its standard error, the hazard
    ratio with its Wald interval (at the study's confidence) and the two-sided Wald p.
    ``se`` and everything derived from it are None when no information was summed."""

    feature: str
    coef: float
    se: float | None
    hr: float | None  # None where exp(coef) overflows
    hr_low: float | None
    hr_high: float | None
    p: float | None

    def to_dict(self) -> dict[str, str | float | None]:
        return asdict(self)


@dataclass(frozen=True)
class CoefficientTable:
    """The same fit per unit of each feature (``original``) and per standardised unit."""

    original: tuple[Coefficient, ...]
    standardised: tuple[Coefficient, ...]
    note: str = ""


def _finite(value: float) -> float | None:
    """JSON has no infinity: an overflowing bound (a non-estimable level) is None."""
    return value if np.isfinite(value) else None


def _rows(
    names: Sequence[str], coef: np.ndarray, se: np.ndarray | None, z: float
) -> tuple[Coefficient, ...]:
    rows = []
    for j, name in enumerate(names):
        b = float(coef[j])
        with np.errstate(over="ignore"):
            hr = _finite(float(np.exp(b)))
        if se is None or not np.isfinite(se[j]) or hr is None:
            rows.append(Coefficient(name, b, None, hr, None, None, None))
            continue
        s = float(se[j])
        p = float(2.0 * _norm().sf(abs(b / s))) if s > 0 else None
        with np.errstate(over="ignore"):
            low, high = _finite(float(np.exp(b - z * s))), _finite(float(np.exp(b + z * s)))
        rows.append(Coefficient(name, b, s, hr, low, high, p))
    return tuple(rows)


def coefficient_table(
    beta: np.ndarray,
    information: np.ndarray | None,
    preprocessor: Preprocessor,
    confidence: float = 0.95,
) -> CoefficientTable:
    """Rows for ``beta`` (shape ``(p,)``, per standardised column of ``preprocessor``).

    ``information``: the (penalised) observed information, shape ``(p, p)``, or None (no
    standard errors). A feature whose information is (near) zero is named in the note.
    """
    beta = np.asarray(beta, dtype=np.float64).reshape(-1)
    names = list(preprocessor.columns)
    scales = np.asarray(preprocessor.scales, dtype=np.float64)
    z = float(_norm().ppf(0.5 + confidence / 2.0))
    se: np.ndarray | None = None
    note = ""
    if information is not None:
        se, note = _standard_errors(np.asarray(information, dtype=np.float64), names)
    standardised = _rows(names, beta, se, z)
    original = _rows(names, beta / scales, None if se is None else se / scales, z)
    return CoefficientTable(original, standardised, note)


def _standard_errors(information: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, str]:
    """sqrt(diag(I⁻¹)), NaN (no SE) for the features named in the note, where the
    information is (near) zero."""
    weak = _weak_features(information)
    note = estimability_note(information, names)
    try:
        cov = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return np.full(len(names), np.nan), note
    diag = np.diag(cov).copy()
    diag[weak] = np.nan
    se = np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan)
    return se, note


def _weak_features(information: np.ndarray) -> list[int]:
    diag = np.abs(np.diag(information))
    top = float(np.max(diag, initial=0.0))
    return [j for j in range(diag.size) if diag[j] <= 1e-10 * max(top, 1.0)]


def estimability_note(information: np.ndarray, names: Sequence[str]) -> str:
    """A sentence naming the features with (near) zero information, and the fix; ''
    when every coefficient is estimable."""
    weak = [names[j] for j in _weak_features(information)]
    top = float(np.max(np.abs(np.diag(information)), initial=0.0))
    values = np.linalg.eigvalsh(information) if information.size else np.zeros(0)
    if not weak and (values.size == 0 or values.min() > 1e-10 * max(top, 1.0)):
        return ""
    which = ", ".join(f"'{n}'" for n in weak) or "a combination of features (collinear)"
    return (
        f"not estimable: {which} (a constant column, a categorical level without events, "
        "or perfect separation); raise model.l2, merge rare levels or drop the feature"
    )


def _norm() -> Any:
    """scipy's standard normal, imported when a table is made (not at CLI startup)."""
    from scipy.stats import norm

    return norm
