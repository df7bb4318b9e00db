"""Coverage of the consortium C-index interval over simulated three-site cohorts.

    python bench/coverage.py [--cohorts 500] [--out FILE] [--seed 0] [--sizes 30,60,90]
                             [--resamples 200] [--confidence 0.95]

Cohorts: :func:`accord.synth.simulate_cohort_csv` (Cox–Weibull survival with the log hazard
ratios of :data:`accord.synth.COHORT_LOG_HR`, each site its own baseline hazard and case
mix, administrative censoring at 5 years plus loss to follow-up); site k keeps the first
``sizes[k]`` of its patients as its test rows. The model is fixed, not fitted: the
generator's own linear predictor, so the truth does not depend on a fit.

Code path: each site computes its released arrays with
:func:`accord.fl._evaluation.concordance_arrays` (pair counts, ``bootstrap_counts``,
``concordance_moments``, as ``evaluate_risk`` does, seeded per site); the hub sums them
over the sites (a plain sum: secure aggregation returns the same sum to ~1e-11) and calls
:func:`accord.fl.cindex_interval` (BCa). The former percentile interval
(``percentile_interval``) runs on the same summed resamples for reference, and so does a
normal interval with the U-statistic variance from the same moment sums (``ustat_normal``).

Truth (the estimand the interval claims): the population value of the consortium's
Harrell C of that model under the same sampling, censoring and site sizes,

    C* = sum_k n_k (n_k - 1) P_k(concordant) / sum_k n_k (n_k - 1) P_k(comparable),

P_k being the probability that two patients of site k form a comparable pair (and, for
the numerator, a concordant one, ties in risk counting one half): the ratio of the
expected summed pair counts. It is computed once per configuration from 100,000 patients
per site of the same generator (another seed). Prints one JSON line (coverage, its
Monte-Carlo standard error, misses below and above, mean width, the percentile interval's
coverage and width on the same cohorts, wall time) and writes it to ``--out``. Ctrl-C
stops early and reports the cohorts done (``"interrupted": true``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress
from scipy.stats import norm

from accord.fl import cindex_interval
from accord.fl._evaluation import PAIR_UNIT, concordance_arrays, percentile_interval
from accord.survival import concordance_counts
from accord.synth import COHORT_LOG_HR, simulate_cohort_csv

TRUTH_PATIENTS = 100_000
TRUTH_SEED = 10**6  # far from the cohorts' seeds
Site = tuple[np.ndarray, np.ndarray, np.ndarray]  # time_days, event, risk


def model_risk(frame: pd.DataFrame) -> np.ndarray:
    """The fixed model: the generator's linear predictor (higher = shorter survival)."""
    lp = COHORT_LOG_HR["age_per_year"] * (frame["age"] - 60.0)
    lp = lp + COHORT_LOG_HR["smoker"] * frame["smoker"]
    for level in ("II", "III", "IV"):
        lp = lp + COHORT_LOG_HR[f"stage={level}"] * (frame["stage"] == level)
    return lp.to_numpy(dtype=np.float64)


def simulate_sites(sizes: Sequence[int], seed: int) -> list[Site]:
    """Test rows (time, event, risk) of each site: the first ``sizes[k]`` of site k."""
    frame = simulate_cohort_csv(sites=len(sizes), patients=max(sizes), seed=seed)
    out = []
    for k, (_, rows) in enumerate(frame.groupby("site", sort=True)):
        rows = rows.iloc[: sizes[k]]
        out.append(
            (
                rows["time_days"].to_numpy(dtype=np.float64),
                rows["event"].to_numpy(dtype=bool),
                model_risk(rows),
            )
        )
    return out


def true_cindex(sizes: Sequence[int], patients: int = TRUTH_PATIENTS) -> float:
    """C* of the module docstring, from ``patients`` per site."""
    pairs = patients * (patients - 1)
    score = comparable = 0.0
    big = simulate_sites([patients] * len(sizes), TRUTH_SEED)
    for n, (t, e, r) in zip(sizes, big, strict=True):
        counts = concordance_counts(t, e, r)
        weight = n * (n - 1) / pairs
        score += weight * (counts.concordant + 0.5 * counts.tied_risk)
        comparable += weight * counts.comparable
    return score / comparable


def consortium_arrays(sites: Sequence[Site], resamples: int, seed: int) -> dict[str, np.ndarray]:
    """What the hub holds: the sum over sites of each site's released arrays."""
    replies = [
        concordance_arrays(t, e, r, resamples, seed * 100 + k) for k, (t, e, r) in enumerate(sites)
    ]
    return {name: np.sum([a[name] for a in replies], axis=0) for name in replies[0]}


def ustat_interval(summed: dict[str, np.ndarray], confidence: float) -> tuple[float, float]:
    """Reference: normal interval with the U-statistic (Noether-type) variance of C,
    sum_i (s_i - C c_i)^2 / comparable^2, from the same moment sums (no bootstrap)."""
    comparable = float(summed["comparable"][0])
    c = (float(summed["concordant"][0]) + 0.5 * float(summed["tied_risk"][0])) / comparable
    ss, sc, cc = (float(m) for m in summed["concordance_moments"][:3])
    se = math.sqrt(max(ss - 2.0 * c * sc + c * c * cc, 0.0)) * PAIR_UNIT / comparable
    z = float(norm.ppf(0.5 + confidence / 2.0))
    return c - z * se, c + z * se


@dataclass
class Tally:
    """Hits, misses and widths of one interval method over the cohorts."""

    hits: int = 0
    below: int = 0  # interval entirely below the truth
    above: int = 0
    undefined: int = 0
    widths: list[float] = field(default_factory=list)

    def add(self, interval: tuple[float, float] | None, truth: float) -> None:
        if interval is None:
            self.undefined += 1
            return
        lower, upper = interval
        self.hits += lower <= truth <= upper
        self.below += upper < truth
        self.above += lower > truth
        self.widths.append(upper - lower)

    def summary(self, cohorts: int) -> dict[str, Any]:
        coverage = self.hits / cohorts if cohorts else float("nan")
        return {
            "coverage": round(coverage, 4),
            "coverage_mc_se": round(math.sqrt(coverage * (1 - coverage) / cohorts), 4)
            if cohorts
            else None,
            "misses_below": self.below,
            "misses_above": self.above,
            "undefined": self.undefined,
            "mean_width": round(float(np.mean(self.widths)), 4) if self.widths else None,
        }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--cohorts", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="30,60,90", help="test patients per site")
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--truth-patients", type=int, default=TRUTH_PATIENTS)
    args = parser.parse_args(argv)
    args.sizes = tuple(int(s) for s in args.sizes.split(","))
    if len(args.sizes) != 3 or min(args.sizes) < 10:
        parser.error("--sizes: expected three sizes of at least 10 patients")
    if args.cohorts < 1 or args.resamples < 1:
        parser.error("--cohorts and --resamples: expected at least 1")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    truth = true_cindex(args.sizes, args.truth_patients)
    bca, percentile, ustat = Tally(), Tally(), Tally()
    done, interrupted = 0, False
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("cohorts", total=args.cohorts)
            for i in range(args.cohorts):
                seed = args.seed * 1_000_003 + i
                summed = consortium_arrays(simulate_sites(args.sizes, seed), args.resamples, seed)
                bca.add(cindex_interval(summed, args.confidence), truth)
                percentile.add(
                    percentile_interval(summed["bootstrap_counts"], args.confidence), truth
                )
                ustat.add(ustat_interval(summed, args.confidence), truth)
                done += 1
                progress.advance(task)
    except KeyboardInterrupt:
        interrupted = True
    return {
        "bench": "coverage",
        "method": "bca",
        **bca.summary(done),
        "cohorts": done,
        "nominal": args.confidence,
        "percentile": percentile.summary(done),
        "ustat_normal": ustat.summary(done),
        "truth": round(truth, 6),
        "estimand": "population consortium Harrell C of the fixed true-risk model",
        "sizes": list(args.sizes),
        "resamples": args.resamples,
        "seed": args.seed,
        "interrupted": interrupted,
        "wall_s": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    line = json.dumps(run(args))
    print(line)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(line + "\n")
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
