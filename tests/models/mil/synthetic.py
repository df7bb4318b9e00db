"""A synthetic MIL survival problem with a planted tile pattern, and a rank statistic.

Each patient is a bag of 20-60 random 16-d tiles; a fraction f ~ U(0, 0.25) of them are
"pattern" tiles, shifted by 3 along the first axis. The log-hazard is 16 f (+ an optional
clinical effect), times are exponential with exponential censoring (about 20 % censored).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

DIM = 16


@dataclass(frozen=True)
class Cohort:
    bags: list[np.ndarray]  # (n_i, DIM) float32
    pattern: list[np.ndarray]  # (n_i,) bool: which tiles carry the pattern
    clinical: np.ndarray  # (n, 2) float32, N(0, 1)
    true_risk: np.ndarray  # (n,) the planted log-hazard
    time: np.ndarray  # (n,) days
    event: np.ndarray  # (n,) bool

    def subset(self, idx: np.ndarray) -> Cohort:
        return Cohort(
            bags=[self.bags[i] for i in idx],
            pattern=[self.pattern[i] for i in idx],
            clinical=self.clinical[idx],
            true_risk=self.true_risk[idx],
            time=self.time[idx],
            event=self.event[idx],
        )


def _bag(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n_tiles = int(rng.integers(20, 61))
    pattern = rng.random(n_tiles) < rng.uniform(0.0, 0.25)
    tiles = rng.normal(size=(n_tiles, DIM)).astype(np.float32)
    tiles[pattern, 0] += 3.0
    return tiles, pattern


def make_cohort(n: int, seed: int, clinical_effect: float = 0.0) -> Cohort:
    """``n`` patients; ``clinical_effect`` multiplies the first clinical covariate."""
    rng = np.random.default_rng(seed)
    bags, patterns = zip(*(_bag(rng) for _ in range(n)), strict=True)
    clinical = rng.normal(size=(n, 2)).astype(np.float32)
    fraction = np.array([p.mean() for p in patterns])
    risk = 16.0 * fraction + clinical_effect * clinical[:, 0]
    event_time = rng.exponential(np.exp(-risk))
    censor_time = rng.exponential(1.0, size=n)
    time = np.minimum(event_time, censor_time) * 365.0
    return Cohort(list(bags), list(patterns), clinical, risk, time, event_time <= censor_time)


def rank_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score of a positive > score of a negative), ties count 1/2."""
    ranks = rankdata(scores)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def mean_bag_auc(scores: list[np.ndarray], pattern: list[np.ndarray]) -> float:
    """Within-bag AUC of pattern vs other tiles, averaged over bags holding both kinds."""
    aucs = [rank_auc(s, p) for s, p in zip(scores, pattern, strict=True) if 0 < p.sum() < len(p)]
    return float(np.mean(aucs))
