"""Site-side pathology: tile features of the site's own slides, and MIL training on them.

At setup the site extracts (or loads from its cache) the tile features of every patient's
slide; the bags stay in the site's memory and cache. MIL models are trained and evaluated
on them with the clinical features in late fusion. Only model updates and site-level
metrics leave, as for any other model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import cast

import numpy as np
from torch import nn

from accord.core.errors import DataError
from accord.fl.site import SiteContext
from accord.models.extractors import build_extractor
from accord.models.mil import build_mil, predict_risk, train_mil_local
from accord.models.slide_features import extract_features
from accord.wsi.cache import FeatureCache, TilingParams

__all__ = [
    "bags",
    "mil_model",
    "mil_risk",
    "prepare_bags",
    "standardise_bags",
    "tile_statistics",
    "train_mil",
]

CACHE_KEY = "feature_cache"


def prepare_bags(ctx: SiteContext) -> int:
    """Extract (or load) each patient's tile features; returns the feature dimension."""
    if ctx.cohort.slides is None:
        raise DataError(f"site '{ctx.site}': the study needs slides; set cohort.slide_column")
    spec = ctx.study.pathology
    model_path = Path(spec.model_path) if spec.model_path else None
    extractor = build_extractor(spec.extractor, model_path, mpp=spec.mpp)
    tiling = TilingParams(mpp=spec.mpp, tile_px=spec.tile_px, min_tissue=spec.min_tissue)
    folder = ctx.state.get(CACHE_KEY) or tempfile.mkdtemp(prefix=f"accord-{ctx.site}-")
    slides = [Path(s) for s in ctx.cohort.slides]
    features, report = extract_features(
        slides, extractor, tiling, FeatureCache(Path(folder)), slide_mpp=spec.slide_mpp
    )
    if report.failed:
        rows = [i + 1 for i, s in enumerate(slides) if s in report.failed]
        raise DataError(
            f"site '{ctx.site}': {len(rows)} slides could not be read (patients "
            f"at rows {rows[:5]}); see the site's log"
        )
    empty = [i + 1 for i, s in enumerate(slides) if features[s].n_tiles == 0]
    if empty:
        raise DataError(
            f"site '{ctx.site}': {len(empty)} slides have no tissue tile "
            f"(rows {empty[:5]}); lower pathology.min_tissue or check the slides"
        )
    test = ctx.cohort.is_test
    all_bags = [features[s].features.astype(np.float64) for s in slides]
    ctx.state["bags_train"] = [b for b, t in zip(all_bags, test, strict=True) if not t]
    ctx.state["bags_test"] = [b for b, t in zip(all_bags, test, strict=True) if t]
    ctx.state["feature_dim"] = extractor.dim
    return extractor.dim


def tile_statistics(ctx: SiteContext) -> dict[str, np.ndarray]:
    """Sums over the site's training tiles (count, sum, sum of squares per feature)."""
    tiles = np.concatenate(bags(ctx, "train"))
    return {
        "n": np.array([float(len(tiles))]),
        "sum": tiles.sum(axis=0),
        "sumsq": (tiles**2).sum(axis=0),
    }


def standardise_bags(ctx: SiteContext, mean: np.ndarray, std: np.ndarray) -> None:
    """Apply the consortium's tile-feature standardisation (clipped at ±8 sd), once."""
    if ctx.state.get("bags_standardised"):
        return
    scale = np.where(std > 1e-6, std, 1.0)
    for split in ("train", "test"):
        ctx.state[f"bags_{split}"] = [
            np.clip((b - mean) / scale, -8.0, 8.0).astype(np.float32) for b in bags(ctx, split)
        ]
    ctx.state["bags_standardised"] = True


def bags(ctx: SiteContext, split: str) -> list[np.ndarray]:
    return cast(list[np.ndarray], ctx.state[f"bags_{split}"])


def mil_model(ctx: SiteContext, kind: str, n_clinical: int) -> nn.Module:
    return build_mil(kind, int(ctx.state["feature_dim"]), n_clinical, seed=0)


def train_mil(
    model: nn.Module,
    ctx: SiteContext,
    x_train: np.ndarray,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> float:
    train = ctx.cohort.subset(test=False)
    result = train_mil_local(
        model,
        bags(ctx, "train"),
        x_train.astype(np.float32),
        train.time_days,
        train.event,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        max_tiles=ctx.study.pathology.max_tiles,
        optimizer="sgd",
    )
    return float(result.mean_loss)


def mil_risk(model: nn.Module, ctx: SiteContext, split: str, x: np.ndarray) -> np.ndarray:
    return predict_risk(model, bags(ctx, split), x.astype(np.float32))
