"""What the benchmarks' targets are judged with, and the validation split their tuning uses.

Targets are judged from per-seed *paired* differences (both arms on the same seed and the
same split): the mean difference and its 95 % t-interval over seeds (``scipy.stats.t``).
A target is ``"met"`` only when the whole interval is on its side of the margin, ``"not
met"`` when the whole interval is on the other side, and ``"inconclusive"`` otherwise
(including with fewer than 2 seeds, where there is no interval).

Tuning sees training rows only: :func:`training_rows` drops every test row of a cohort,
:func:`validation_cohort` carves a seeded, event-stratified validation split out of each
site's training rows (and refuses a cohort that still has test rows), and
:func:`simulation_of` runs a study over such an in-memory cohort, so a tuner given only
these cannot score anything on a test row.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import stats

from accord.core import StudySpec
from accord.data import Cohort, SiteCohort
from accord.fl import PlanBook
from accord.studies import Simulation, SimulationReferences, StudyRun, simulate_sites

MET, NOT_MET, INCONCLUSIVE = "met", "not met", "inconclusive"


def paired_difference(
    values: Sequence[float], reference: Sequence[float] | float, confidence: float = 0.95
) -> dict[str, Any]:
    """Mean of ``values − reference`` over seeds (``reference`` per seed, or one constant
    such as a published figure) with its t-interval; ``ci95`` is None below 2 seeds."""
    a = np.asarray(values, dtype=float)
    diff = a - (np.asarray(reference, dtype=float) if not np.isscalar(reference) else reference)
    n, mean = len(diff), float(np.mean(diff))
    out: dict[str, Any] = {"n_seeds": n, "mean": round(mean, 4), "sd": None, "ci95": None}
    if n >= 2:
        sd = float(np.std(diff, ddof=1))
        if sd == 0.0:  # deterministic arms: the interval is the point
            low = high = mean
        else:
            low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sd / math.sqrt(n))
        out["sd"], out["ci95"] = round(sd, 4), [round(float(low), 4), round(float(high), 4)]
    return out


def verdict(difference: dict[str, Any], margin: float = 0.0) -> str:
    """Judge the claim "difference > margin" from :func:`paired_difference`'s interval
    (margin −0.01: "within 0.01 or better", non-inferiority; 0: "beats")."""
    ci = difference.get("ci95")
    if ci is None:
        return INCONCLUSIVE
    if ci[0] > margin:
        return MET
    if ci[1] < margin:
        return NOT_MET
    return INCONCLUSIVE


def target(
    claim: str,
    values: Sequence[float],
    reference: Sequence[float] | float,
    margin: float = 0.0,
) -> dict[str, Any]:
    """One judged target: the claim in words, the paired difference and the verdict."""
    difference = paired_difference(values, reference)
    return {"claim": claim, "margin": margin, **difference, "verdict": verdict(difference, margin)}


def all_of(verdicts: Sequence[str]) -> str:
    """A target over several rows: met when all are, not met when any is not."""
    if verdicts and all(v == MET for v in verdicts):
        return MET
    return NOT_MET if NOT_MET in verdicts else INCONCLUSIVE


def training_rows(cohort: Cohort) -> Cohort:
    """Every site's training rows alone (re-indexed); what a tuner may be given."""
    return Cohort({name: site.subset(test=False) for name, site in cohort.sites.items()})


def validation_mask(event: np.ndarray, fraction: float, seed: int, site: str) -> np.ndarray:
    """Seeded validation-row mask for one site's training rows, stratified by event.

    Hand-written rather than ``sklearn.model_selection.train_test_split(stratify=…)``,
    which refuses a stratum of one row (small sites have one or two training events):
    each stratum gives ``round(fraction * len)`` rows, never its last one, drawn by a
    generator seeded by ``(seed, site)``.
    """
    rng = np.random.default_rng([seed % 2**63, zlib.crc32(site.encode("utf-8"))])
    mask = np.zeros(len(event), dtype=bool)
    for rows in (np.flatnonzero(event), np.flatnonzero(~event.astype(bool))):
        count = min(math.floor(fraction * len(rows) + 0.5), max(len(rows) - 1, 0))
        mask[rng.permutation(rows)[:count]] = True
    return mask


def validation_cohort(train: Cohort, fraction: float, seed: int) -> Cohort:
    """``train`` (training rows only) with each site's validation rows marked as its
    "test" rows: what a tuner trains on and scores. Refuses a cohort with test rows."""
    sites: dict[str, SiteCohort] = {}
    for name, site in train.sites.items():
        if site.is_test.any():
            raise ValueError(f"site '{name}': the tuner takes training rows only")
        mask = validation_mask(site.event.astype(bool), fraction, seed, name)
        sites[name] = replace(site, is_test=mask)
    return Cohort(sites)


def simulation_of(study: StudySpec, cohort: Cohort, seed: int) -> Simulation:
    """A ledger-less simulation over an in-memory ``cohort`` (as
    :meth:`Simulation.prepare` builds one from a folder): the preprocessing is fitted
    from the cohort's own training rows."""
    book = PlanBook()
    consortium, sites = simulate_sites(
        cohort.sites, study, seed, expect={site: book.expect for site in cohort.sites}
    )
    run = StudyRun.start(study, consortium, seed, book=book)
    return Simulation(run, cohort, SimulationReferences(run, cohort), sites)
