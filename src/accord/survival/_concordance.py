"""Concordance indices: Harrell's C (as lifelines) and Uno's IPCW C (as scikit-survival).

A pair (i, j) is comparable when subject i had an event and j left the study later, or
at the same time but censored; two events at the same time are not compared. The pair
is concordant when the earlier event has the higher risk. Counts, not ratios, are what
sites share: :class:`ConcordanceCounts` add up across sites to the consortium C-index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from accord.core import DataError
from accord.survival._checks import (
    BoolArray,
    FloatArray,
    _check_same_length,
    _check_survival,
    _check_vector,
)
from accord.survival._ipcw import _inverse_censoring_weights

__all__ = [
    "ConcordanceComponents",
    "ConcordanceCounts",
    "concordance_components",
    "concordance_counts",
    "harrell_c",
    "uno_c",
]


@dataclass(frozen=True)
class ConcordanceCounts:
    """Pair counts behind Harrell's C. ``comparable = concordant + discordant + tied_risk``."""

    concordant: float
    discordant: float
    tied_risk: float
    comparable: int

    @property
    def cindex(self) -> float:
        """(concordant + tied_risk / 2) / comparable; nan when no pair is comparable."""
        if self.comparable == 0:
            return float("nan")
        return (self.concordant + 0.5 * self.tied_risk) / self.comparable

    def __add__(self, other: ConcordanceCounts) -> ConcordanceCounts:
        """Pool the counts of two sites (pairs across sites are not compared)."""
        return ConcordanceCounts(
            concordant=self.concordant + other.concordant,
            discordant=self.discordant + other.discordant,
            tied_risk=self.tied_risk + other.tied_risk,
            comparable=self.comparable + other.comparable,
        )


@dataclass(frozen=True)
class ConcordanceComponents:
    """Each subject's share of the pair counts: the pairs it belongs to, as either member.

    ``score[i]`` sums the concordance scores (1 concordant, 0.5 tied risk) of the
    comparable pairs that contain subject i, ``comparable[i]`` counts them; both have
    shape (n,) in input order. Every pair has two members, so ``score.sum()`` is twice
    ``concordant + tied_risk / 2`` and ``comparable.sum()`` twice ``comparable`` of
    :func:`concordance_counts`. They are Hoeffding's projections (times n - 1) of the two
    U-statistics behind Harrell's C, the patient-level inputs of its influence values
    ``score - C * comparable``; they are per patient and must not leave a site.
    """

    score: FloatArray
    comparable: FloatArray


@dataclass(frozen=True)
class _PairsPerEvent:
    """For each event (in input order of the events): its comparable pairs by outcome."""

    lower: FloatArray  # (n_events,) comparable partners with lower risk (concordant)
    tied: FloatArray  # (n_events,) comparable partners with the same risk
    comparable: FloatArray  # (n_events,) all comparable partners


def _check_inputs(
    time: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike
) -> tuple[FloatArray, BoolArray, FloatArray]:
    t, e = _check_survival(time, event)
    r = _check_same_length(_check_vector(risk, "risk"), t.shape[0], "risk")
    return t, e, r


def _pairs_per_event(time: FloatArray, event: BoolArray, risk: FloatArray) -> _PairsPerEvent:
    """Count comparable partners of every event in O(n log n) with a Fenwick tree.

    Subjects are visited from the last exit backwards, in blocks of equal (time, event),
    censorings at a time before the events at that time; each event queries the risks
    already inserted (everyone who left later, or censored at the same time).
    """
    ranks = np.unique(risk, return_inverse=True)[1] + 1  # 1-based ranks of risk
    order = np.lexsort((~event, time))  # exit order: time, events first
    tree = [0] * (int(ranks.max(initial=0)) + 1)
    size = len(tree)
    results: dict[int, tuple[int, int, int]] = {}
    inserted, stop = 0, order.shape[0]
    while stop > 0:
        start = stop - 1
        key = (time[order[start]], event[order[start]])
        while start > 0 and (time[order[start - 1]], event[order[start - 1]]) == key:
            start -= 1
        block = [int(i) for i in order[start:stop]]
        if key[1]:
            for i in block:
                below, at_or_below = _prefix(tree, ranks[i] - 1), _prefix(tree, ranks[i])
                results[i] = (below, at_or_below - below, inserted)
        for i in block:
            _insert(tree, size, int(ranks[i]))
        inserted, stop = inserted + len(block), start
    counts = np.array([results[int(i)] for i in np.flatnonzero(event)], dtype=np.float64)
    counts = counts.reshape(-1, 3)
    return _PairsPerEvent(lower=counts[:, 0], tied=counts[:, 1], comparable=counts[:, 2])


def _pairs_as_later(time: FloatArray, event: BoolArray, risk: FloatArray) -> _PairsPerEvent:
    """For every subject (input order): comparable partners that had the earlier event.

    Subject j is the later member of pair (i, j) when i had an event before j left, or at
    the same time while j was censored. Visits times forwards with a Fenwick tree of the
    event risks seen so far: a block's events query before its events are inserted, its
    censorings after. Partners with a higher risk make the pair concordant.
    """
    ranks = np.unique(risk, return_inverse=True)[1] + 1
    order = np.argsort(time, kind="stable")
    tree = [0] * (int(ranks.max(initial=0)) + 1)
    size = len(tree)
    out = np.zeros((time.shape[0], 3))
    inserted, start, n = 0, 0, order.shape[0]
    while start < n:
        stop = start + 1
        while stop < n and time[order[stop]] == time[order[start]]:
            stop += 1
        block = [int(i) for i in order[start:stop]]
        events = [i for i in block if event[i]]
        for j in events:
            out[j] = _earlier_partners(tree, int(ranks[j]), inserted)
        for i in events:
            _insert(tree, size, int(ranks[i]))
        inserted += len(events)
        for j in block:
            if not event[j]:
                out[j] = _earlier_partners(tree, int(ranks[j]), inserted)
        start = stop
    return _PairsPerEvent(lower=out[:, 0], tied=out[:, 1], comparable=out[:, 2])


def _earlier_partners(tree: list[int], rank: int, inserted: int) -> tuple[int, int, int]:
    """(higher risk, same risk, all) among the ``inserted`` earlier events in ``tree``."""
    below, at_or_below = _prefix(tree, rank - 1), _prefix(tree, rank)
    return inserted - at_or_below, at_or_below - below, inserted


def concordance_components(
    time: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike
) -> ConcordanceComponents:
    """Per-subject pair components of Harrell's C (see :class:`ConcordanceComponents`).

    Hand-written (two Fenwick sweeps, O(n log n)): lifelines and scikit-survival return
    only the totals. Inputs as :func:`concordance_counts`.
    """
    t, e, r = _check_inputs(time, event, risk)
    later = _pairs_as_later(t, e, r)
    score = later.lower + 0.5 * later.tied
    comparable = later.comparable.copy()
    if e.any():
        earlier = _pairs_per_event(t, e, r)
        score[e] += earlier.lower + 0.5 * earlier.tied
        comparable[e] += earlier.comparable
    return ConcordanceComponents(score=score, comparable=comparable)


def _prefix(tree: list[int], index: int) -> int:
    total = 0
    while index > 0:
        total += tree[index]
        index -= index & -index
    return total


def _insert(tree: list[int], size: int, index: int) -> None:
    while index < size:
        tree[index] += 1
        index += index & -index


def concordance_counts(
    time: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike
) -> ConcordanceCounts:
    """Harrell's pair counts; equals ``lifelines.utils.concordance_index(time, -risk, event)``.

    Args:
        time: (n,) event or censoring times in days.
        event: (n,) bool or 0/1, 1 = event observed.
        risk: (n,) risk scores, higher = shorter survival. Ties in risk count one half.
    """
    pairs = _pairs_per_event(*_check_inputs(time, event, risk))
    concordant, tied = float(pairs.lower.sum()), float(pairs.tied.sum())
    comparable = int(pairs.comparable.sum())
    return ConcordanceCounts(concordant, comparable - concordant - tied, tied, comparable)


def harrell_c(time: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Harrell's C-index in [0, 1] (nan without comparable pairs); see concordance_counts."""
    return concordance_counts(time, event, risk).cindex


def uno_c(
    time_train: npt.ArrayLike,
    event_train: npt.ArrayLike,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    risk: npt.ArrayLike,
    tau: float | None = None,
) -> float:
    """Uno's IPCW C-index, as ``sksurv.metrics.concordance_index_ipcw``.

    Each comparable pair is weighted by 1 / G(t_i)^2, G being the Kaplan-Meier estimate of
    the censoring distribution from the training data (days). Only events before ``tau``
    (days) count. Returns nan when no comparable pair has a positive weight.
    """
    t, e, r = _check_inputs(time, event, risk)
    if tau is not None and not tau > 0:
        raise DataError("tau is not positive; expected a truncation time > 0 days")
    counted = e if tau is None else e & (t < tau)
    weights = _inverse_censoring_weights(time_train, event_train, t, counted) ** 2
    pairs = _pairs_per_event(t, e, r)
    w = weights[e]
    denominator = float(w @ pairs.comparable)
    if denominator == 0:
        return float("nan")
    return float(w @ (pairs.lower + 0.5 * pairs.tied)) / denominator
