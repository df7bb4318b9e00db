"""ROC and calibration figures for binary-response studies, from released aggregates.

Both take what a consortium can release: an ROC curve as (false-positive rate,
true-positive rate) points (summed confusion counts at shared thresholds), and a
calibration table as per-bin mean predicted probability, observed event rate and bin size
(bins below ``min_cell_count`` are not drawn and are counted in the caption).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core import DataError
from accord.report._render import MUTED, SERIES_COLOURS, Figure, render

__all__ = ["calibration_figure", "roc_figure"]


def _unit_interval(name: str, values: npt.ArrayLike, size: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or (size is not None and array.shape[0] != size):
        expected = f"({size},)" if size is not None else "(k,)"
        raise DataError(f"{name} has shape {array.shape}; expected {expected}")
    if not np.all(np.isfinite(array)) or np.any((array < 0) | (array > 1)):
        raise DataError(f"{name} has values outside [0, 1]; expected rates or probabilities")
    return array


def _unit_square(
    ax: Any, diagonal: str, labels: tuple[str, str], title: str, legend_at: str
) -> None:
    """Both axes over [0, 1] at one scale, the dashed diagonal named ``diagonal``."""
    ax.plot([0, 1], [0, 1], color=MUTED, linestyle="--", linewidth=0.9, label=diagonal)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(frameon=False, loc=legend_at, fontsize=8)


def roc_figure(
    curves: Sequence[tuple[str, npt.ArrayLike, npt.ArrayLike]],
    title: str,
    *,
    name: str = "roc",
) -> Figure:
    """ROC curves, one per (label, false-positive rates, true-positive rates), with the
    area under each (trapezoidal, from (0, 0) to (1, 1)) in the legend and the stats
    (``auc[label]``) and the chance diagonal."""
    checked = []
    for label, fpr, tpr in curves:
        x = _unit_interval(f"{label}: false-positive rate", fpr)
        y = _unit_interval(f"{label}: true-positive rate", tpr, x.shape[0])
        order = np.lexsort((y, x))
        x = np.concatenate([[0.0], x[order], [1.0]])
        y = np.concatenate([[0.0], y[order], [1.0]])
        checked.append((label, x, y, float(np.trapezoid(y, x))))
    stats = {f"auc[{label}]": auc for label, _, _, auc in checked}
    caption = (
        f"{title.rstrip('.')}. Receiver operating characteristic: the share of responders "
        "ranked above a threshold (true-positive rate) against the share of non-responders "
        "above it (false-positive rate), over all thresholds; the dashed diagonal is chance "
        "(area 0.5)."
    )

    def draw(plt: Any) -> Any:
        fig, ax = plt.subplots(figsize=(4.8, 4.6))
        for i, (label, x, y, auc) in enumerate(checked):
            ax.plot(x, y, color=SERIES_COLOURS[i % len(SERIES_COLOURS)], linewidth=1.6,
                    label=f"{label} (AUC {auc:.3f})")  # fmt: skip
        _unit_square(
            ax, "chance", ("False-positive rate", "True-positive rate"), title, "lower right"
        )
        return fig

    return render(name, draw, caption, stats)


def calibration_figure(
    predicted: npt.ArrayLike,
    observed: npt.ArrayLike,
    counts: npt.ArrayLike,
    title: str,
    *,
    name: str = "calibration",
    min_cell_count: int = 5,
) -> Figure:
    """Observed event rate against mean predicted probability per bin, marker area by
    bin size, with the line of perfect calibration.

    Args:
        predicted: (k,) mean predicted probability of each bin.
        observed: (k,) observed event rate of each bin.
        counts: (k,) patients per bin; bins below ``min_cell_count`` are left out.
    """
    p = _unit_interval("predicted", predicted)
    o = _unit_interval("observed", observed, p.shape[0])
    n = np.asarray(counts, dtype=np.float64)
    if n.shape != p.shape or np.any(n < 0) or not np.all(np.isfinite(n)):
        raise DataError(f"counts has shape {n.shape}; expected ({p.shape[0]},) counts >= 0")
    shown = n >= min_cell_count
    hidden = int(np.count_nonzero(~shown & (n > 0)))
    caption = (
        f"{title.rstrip('.')}. Observed event rate against mean predicted probability per "
        "bin (marker area: patients in the bin); on the dashed diagonal predictions match "
        "what happened."
    )
    if hidden:
        caption += f" {hidden} bin(s) below {min_cell_count} patients are not shown."
    stats = {"bins_shown": float(shown.sum()), "bins_suppressed": float(hidden)}

    def draw(plt: Any) -> Any:
        fig, ax = plt.subplots(figsize=(4.8, 4.6))
        area = 12.0 + 120.0 * n[shown] / max(float(n[shown].max(initial=1.0)), 1.0)
        ax.plot(p[shown], o[shown], color=SERIES_COLOURS[0], linewidth=1.0)
        ax.scatter(p[shown], o[shown], s=area, color=SERIES_COLOURS[0], zorder=3,
                   label="bins")  # fmt: skip
        labels = ("Mean predicted probability", "Observed event rate")
        _unit_square(ax, "perfect", labels, title, "upper left")
        return fig

    return render(name, draw, caption, stats)
