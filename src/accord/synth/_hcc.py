"""A synthetic HCC-after-resection consortium: slides, clinical tables and the oracle.

:func:`generate_hcc_consortium` writes, under ``out``::

    <site>/slides/<patient_id>.ome.tif   one H&E slide per patient, the site's stain
    <site>/clinical.csv                  the site's clinical table (columns below)
    truth.csv                            per patient: true OS linear predictor, pattern extent
    consortium.json                      sites, counts, seed and every generation parameter

Each patient's slide carries the planted pattern (``pattern``, default macrotrabecular-
massive) on ``pattern_extent`` of its tissue; the same extent enters the true OS hazard
(:mod:`accord.synth._clinical`), so the slides carry prognostic signal beyond the clinical
table. ``truth.csv`` also holds each slide's seed, stain profile and pen flag: calling
:func:`~accord.synth._slides.write_slide` with them reproduces the slide and its masks.
Sites are ``site01``, ``site02``, ...; ``site01`` is a referral centre (more advanced
disease). Patient ids (``HCC-site01-0001``) are synthetic.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from accord.core import ConfigError, DataError
from accord.synth._clinical import (
    CLINICAL_COLUMNS,
    MAX_PATTERN_EXTENT,
    SurvivalSettings,
    simulate_clinical,
)
from accord.synth._layout import PATTERNS
from accord.synth._slides import write_slide
from accord.synth._stain import HOSPITAL_PROFILES

__all__ = ["HCCConsortium", "SiteSummary", "generate_hcc_consortium", "harrell_c"]

_TRUTH_COLUMNS = (
    "patient_id",
    "site",
    "linear_predictor",
    "clinical_linear_predictor",
    "pattern_extent",
    "pattern_fraction",
    "slide_seed",
    "profile",
    "pen_marks",
)
_PEN_MARK_RATE = 0.10
_REFERRAL_SHIFT = 0.3
_MAX_WORKERS = 2
_POOL_MIN_PIXELS = 2**25  # ~8 slides of 2048 px: below that, starting workers costs more


@dataclass(frozen=True)
class SiteSummary:
    """Aggregate description of one site (no patient-level values)."""

    site: str
    patients: int
    os_event_rate: float
    rfs_event_rate: float
    pattern_prevalence: float


@dataclass(frozen=True)
class HCCConsortium:
    """Where a generated consortium lies; ``clinical`` and ``slides`` are keyed by site."""

    root: Path
    sites: tuple[str, ...]
    clinical: dict[str, Path]
    slides: dict[str, Path]
    truth: Path

    def oracle_cindex(self) -> float:
        """Harrell's C of the true linear predictor on OS, over the whole consortium."""
        joined = self._joined()
        return harrell_c(
            joined["os_days"].to_numpy(dtype=np.float64),
            joined["os_event"].to_numpy() == 1,
            joined["linear_predictor"].to_numpy(dtype=np.float64),
        )

    def summary(self) -> list[SiteSummary]:
        """Patients, event rates and pattern prevalence per site."""
        joined = self._joined()
        return [
            SiteSummary(
                site=str(site),
                patients=len(rows),
                os_event_rate=float(rows["os_event"].mean()),
                rfs_event_rate=float(rows["rfs_event"].mean()),
                pattern_prevalence=float((rows["pattern_extent"] > 0).mean()),
            )
            for site, rows in joined.groupby("site", sort=True)
        ]

    def _joined(self) -> pd.DataFrame:
        clinical = pd.concat([pd.read_csv(self.clinical[s]) for s in self.sites])
        truth = pd.read_csv(self.truth)
        return truth.merge(clinical, on="patient_id", validate="one_to_one")


@dataclass(frozen=True)
class _SlideJob:
    path: Path
    size: int
    mpp: float
    seed: int
    profile: str
    pattern: str
    extent: float
    pen_marks: bool


def generate_hcc_consortium(
    out: Path,
    *,
    sites: int = 3,
    patients: int | Sequence[int] = 60,
    seed: int = 0,
    slide_size: int = 2048,
    mpp: float = 0.5,
    pattern: str = "macrotrabecular",
    pattern_log_hr: float = 1.2,
    admin_censor_days: float = 1825.0,
) -> HCCConsortium:
    """Write a consortium of ``sites`` hospitals (layout in the module docstring).

    ``patients`` is one count for every site or one per site. The true OS log hazard is
    ``sum(beta * clinical) + pattern_log_hr * pattern_extent / 0.45``: ``pattern_log_hr``
    is the log hazard ratio of the most extensive pattern (45 % of the tissue) against
    none. The same seed gives the same files, whatever the number of workers.
    """
    out = Path(out)
    counts = _check_args(out, sites, patients, slide_size, mpp, pattern, admin_censor_days)
    site_ids = tuple(f"site{i + 1:0{max(2, len(str(sites)))}d}" for i in range(sites))
    profiles = [sorted(HOSPITAL_PROFILES)[i % len(HOSPITAL_PROFILES)] for i in range(sites)]
    mix = np.random.default_rng([seed, 0x5175])
    shifts = mix.uniform(-0.2, 0.2, sites) + _REFERRAL_SHIFT * (np.arange(sites) == 0)
    losses = mix.uniform(0.05, 0.15, sites)
    frames = [
        _site_table(
            seed,
            i,
            site_ids[i],
            counts[i],
            float(shifts[i]),
            profiles[i],
            SurvivalSettings(pattern_log_hr, admin_censor_days, float(losses[i])),
        )
        for i in range(sites)
    ]
    table = pd.concat(frames, ignore_index=True)
    jobs = [_job(out, row, slide_size, mpp, pattern) for row in table.to_dict("records")]
    table["pattern_fraction"] = np.round(_write_slides(jobs), 4)
    parameters = {
        "seed": seed,
        "slide_size": slide_size,
        "mpp": mpp,
        "pattern": pattern,
        "pattern_log_hr": pattern_log_hr,
        "admin_censor_days": admin_censor_days,
        "site_shift": [round(float(v), 4) for v in shifts],
        "loss_to_follow_up": [round(float(v), 4) for v in losses],
    }
    return _write_tables(out, site_ids, profiles, table, parameters)


def _site_table(
    seed: int,
    index: int,
    site: str,
    n: int,
    shift: float,
    profile: str,
    settings: SurvivalSettings,
) -> pd.DataFrame:
    """One site's clinical table and truth, with each patient's slide settings."""
    rng = np.random.default_rng([seed, index, 0xC11])
    frame = simulate_clinical(n, rng, shift, settings)
    frame.insert(0, "patient_id", [f"HCC-{site}-{k + 1:04d}" for k in range(n)])
    frame.insert(1, "site", site)
    frame["slide"] = [f"slides/{pid}.ome.tif" for pid in frame["patient_id"]]
    frame["profile"] = profile
    frame["pen_marks"] = (rng.random(n) < _PEN_MARK_RATE).astype(int)
    frame["slide_seed"] = [_slide_seed(seed, index, k) for k in range(n)]
    return frame


def harrell_c(
    time_days: NDArray[np.float64], event: NDArray[np.bool_], risk: NDArray[np.float64]
) -> float:
    """Harrell's concordance of ``risk`` (higher = earlier event) with right-censored times.

    Pair (i, j) is comparable when i has an event and ``t_i < t_j``, or ``t_i == t_j`` and j
    is censored (as lifelines counts them); ties in risk count one half. O(n^2) in blocks
    of rows, fine for a few thousand patients. (A local copy: ``accord.synth`` does not
    import ``accord.survival``.)
    """
    if not time_days.shape == event.shape == risk.shape or time_days.ndim != 1:
        raise DataError("harrell_c: time_days, event and risk must be 1-D of the same length")
    concordant = comparable = 0.0
    for start in range(0, time_days.shape[0], 512):
        t_i, e_i = time_days[start : start + 512, None], event[start : start + 512, None]
        earlier = e_i & ((t_i < time_days) | ((t_i == time_days) & ~event))
        diff = risk[start : start + 512, None] - risk
        comparable += float(earlier.sum())
        concordant += float((earlier & (diff > 0)).sum())
        concordant += 0.5 * float((earlier & (diff == 0)).sum())
    if comparable == 0:
        raise DataError("harrell_c: no comparable pairs (no event before a later time)")
    return concordant / comparable


def _job(out: Path, row: dict[str, Any], size: int, mpp: float, pattern: str) -> _SlideJob:
    return _SlideJob(
        path=out / str(row["site"]) / str(row["slide"]),
        size=size,
        mpp=mpp,
        seed=int(row["slide_seed"]),
        profile=str(row["profile"]),
        pattern=pattern,
        extent=float(row["pattern_extent"]),
        pen_marks=bool(row["pen_marks"]),
    )


def _slide_seed(seed: int, site_index: int, patient_index: int) -> int:
    state = np.random.SeedSequence([seed, site_index, patient_index, 0x511DE]).generate_state(1)
    return int(state[0])


def _write_slides(jobs: list[_SlideJob]) -> list[float]:
    """Write every slide (on a small process pool when worth it); their planted fractions."""
    for job in jobs:
        job.path.parent.mkdir(parents=True, exist_ok=True)
    workers = min(_MAX_WORKERS, os.cpu_count() or 1, len(jobs))
    if workers <= 1 or sum(job.size**2 for job in jobs) < _POOL_MIN_PIXELS:
        return [_write_one(job) for job in jobs]
    context = multiprocessing.get_context("forkserver")  # no fork of a threaded parent
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_write_one, jobs))


def _write_one(job: _SlideJob) -> float:
    slide = write_slide(
        job.path,
        width=job.size,
        height=job.size,
        mpp=job.mpp,
        seed=job.seed,
        profile=job.profile,
        patterns={job.pattern: job.extent} if job.extent > 0 else {},
        pen_marks=job.pen_marks,
    )
    return slide.pattern_fractions()[job.pattern]


def _write_tables(
    out: Path,
    site_ids: tuple[str, ...],
    profiles: list[str],
    table: pd.DataFrame,
    parameters: dict[str, object],
) -> HCCConsortium:
    clinical, slides = {}, {}
    for site, rows in table.groupby("site", sort=True):
        clinical[str(site)] = out / str(site) / "clinical.csv"
        slides[str(site)] = out / str(site) / "slides"
        rows[["patient_id", "slide", *CLINICAL_COLUMNS]].to_csv(clinical[str(site)], index=False)
    truth = out / "truth.csv"
    table[list(_TRUTH_COLUMNS)].to_csv(truth, index=False, float_format="%.6g")
    manifest = {
        "kind": "accord.synth._hcc",
        "sites": [
            {"site": s, "patients": int((table["site"] == s).sum()), "profile": p}
            for s, p in zip(site_ids, profiles, strict=True)
        ],
        "patients": len(table),
        "parameters": parameters,
        "pattern_extent_scale": MAX_PATTERN_EXTENT,
    }
    (out / "consortium.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return HCCConsortium(out, site_ids, clinical, slides, truth)


def _check_args(
    out: Path,
    sites: int,
    patients: int | Sequence[int],
    slide_size: int,
    mpp: float,
    pattern: str,
    admin_censor_days: float,
) -> list[int]:
    counts = [patients] * sites if isinstance(patients, int) else [int(p) for p in patients]
    if sites < 1 or len(counts) != sites or min(counts) < 1:
        raise ConfigError(
            f"patients: expected one count >= 1 or {sites} of them (one per site), and sites >= 1"
        )
    if pattern not in PATTERNS:
        raise ConfigError(f"pattern: unknown {pattern!r}; expected one of {PATTERNS}")
    if slide_size < 128 or not mpp > 0 or not admin_censor_days > 0:
        raise ConfigError("slide_size must be >= 128 px, mpp > 0 and admin_censor_days > 0")
    if out.exists() and any(out.iterdir()) and not (out / "consortium.json").exists():
        raise ConfigError(f"{out}: folder exists and is not a synthetic consortium; pick another")
    return counts
