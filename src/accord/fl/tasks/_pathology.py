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

from accord.core import ConfigError, DataError
from accord.fl._site import SiteContext
from accord.models import LocalTrainingConfig, extract_features
from accord.models.extractors import build_extractor
from accord.models.mil import (
    build_mil,
    predict_risk,
    risk_orientation,
    tile_scores,
    train_mil_local,
)
from accord.wsi import FeatureCache, TilingParams, heatmap_overlay, open_slide, tile_gallery

__all__ = [
    "bags",
    "mil_model",
    "mil_risk",
    "prepare_bags",
    "slide_percentiles",
    "standardise_bags",
    "tile_statistics",
    "train_mil",
    "write_interpretability",
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
    ctx.state["tiles_test"] = [
        (s, features[s].coords, features[s].tile_size)
        for s, t in zip(slides, test, strict=True)
        if t
    ]
    ctx.state["feature_dim"] = extractor.dim
    return extractor.dim


def tile_statistics(ctx: SiteContext, mean: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Sums over the site's training tiles: their count and per-feature sum, or with the
    consortium ``mean`` the per-feature sum of squared deviations about it (two passes:
    no sums of squares to cancel)."""
    tiles = np.concatenate(bags(ctx, "train")).astype(np.float64)
    if mean is not None:
        d = tiles - np.asarray(mean, dtype=np.float64).reshape(1, -1)
        return {"m2": (d * d).sum(axis=0)}
    return {"n": np.array([float(len(tiles))]), "sum": tiles.sum(axis=0)}


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
    if "feature_dim" not in ctx.state:
        raise ConfigError(f"site '{ctx.site}': no tile features (its setup failed)")
    return build_mil(kind, int(ctx.state["feature_dim"]), n_clinical, seed=0)


def train_mil(
    model: nn.Module,
    ctx: SiteContext,
    x_train: np.ndarray,
    config: LocalTrainingConfig,
    seed: int,
) -> float:
    train = ctx.cohort.subset(test=False)
    result = train_mil_local(
        model,
        bags(ctx, "train"),
        x_train.astype(np.float32),
        train.time_days,
        train.event,
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        seed=seed,
        max_tiles=ctx.study.pathology.max_tiles,
        optimizer=config.optimizer,
    )
    return float(result.mean_loss)


def mil_risk(model: nn.Module, ctx: SiteContext, split: str, x: np.ndarray) -> np.ndarray:
    return predict_risk(model, bags(ctx, split), x.astype(np.float32))


def write_interpretability(
    ctx: SiteContext, model: nn.Module, x_test: np.ndarray, n_patients: int = 3, n_tiles: int = 6
) -> int:
    """Heatmaps of tile scores and top/bottom tiles for the highest-risk test patients.

    Written into the site's own folder (``ctx.state["site_dir"]/interpretability``): tile
    images are patient data and stay at the site; exporting them is a separate, recorded
    decision (:func:`render_highest_risk`, task ``export_tiles``). Returns the number of
    slides rendered.
    """
    folder = ctx.state.get("site_dir")
    if folder is None or "tiles_test" not in ctx.state:
        return 0
    out = Path(str(folder)) / "interpretability"
    out.mkdir(parents=True, exist_ok=True)
    images = render_highest_risk(ctx, model, x_test, n_patients, n_tiles)
    for name, png in images.items():
        (out / f"{name}.png").write_bytes(png)
    return len(images) // 2


def render_highest_risk(
    ctx: SiteContext, model: nn.Module, x_test: np.ndarray, n_patients: int, n_tiles: int = 6
) -> dict[str, bytes]:
    """PNG heatmap and top/bottom-tile gallery of each of the ``n_patients`` highest-risk
    test patients, named ``risk_rank_K.heatmap`` and ``risk_rank_K.tiles``.

    Tile scores are oriented so that high means "drives the risk up" (CHOWDER's sign is
    otherwise arbitrary). Names carry ranks only, never a patient id or a file name.
    """
    if "tiles_test" not in ctx.state:
        return {}
    risk = mil_risk(model, ctx, "test", x_test)
    sign = risk_orientation(model, bags(ctx, "test"), x_test.astype(np.float32))
    entries = cast(list[tuple[Path, np.ndarray, int]], ctx.state["tiles_test"])
    images: dict[str, bytes] = {}
    for rank, i in enumerate(np.argsort(-risk)[:n_patients]):
        slide, coords, size = entries[int(i)]
        scores = sign * tile_scores(model, bags(ctx, "test")[int(i)])
        heatmap, tiles = _render(slide, coords, size, scores, n_tiles)
        images[f"risk_rank_{rank + 1}.heatmap"] = heatmap
        images[f"risk_rank_{rank + 1}.tiles"] = tiles
    return images


def slide_percentiles(scores: np.ndarray) -> np.ndarray:
    """Each tile's percentile rank within its slide, in [0, 1] (ties share their mean rank;
    NaN stays NaN): the one colour scale every heatmap shares, so that yellow is a slide's
    top tiles and dark purple its bottom ones on every site's heatmap alike."""
    from scipy.stats import rankdata

    out = np.full(scores.shape, np.nan)
    finite = np.isfinite(scores)
    n = int(finite.sum())
    if n == 1:
        out[finite] = 1.0
    elif n > 1:
        out[finite] = (rankdata(scores[finite]) - 1.0) / (n - 1.0)
    return out


def _render(
    slide: Path, coords: np.ndarray, size: int, scores: np.ndarray, n_tiles: int
) -> tuple[bytes, bytes]:
    with open_slide(slide) as reader:
        thumb = reader.thumbnail(1024)
        downsample = reader.info.width / thumb.shape[1]
        shown = slide_percentiles(scores)
        heatmap = heatmap_overlay(thumb, coords, size, shown, downsample, score_range=(0.0, 1.0))
        order = np.argsort(-scores)
        picks = [*order[:n_tiles], *order[::-1][:n_tiles]]
        tiles = [
            reader.read_region(int(coords[j, 0]), int(coords[j, 1]), size, size) for j in picks
        ]
        captions = [f"top {k + 1}" for k in range(min(n_tiles, len(order)))]
        captions += [f"bottom {k + 1}" for k in range(len(tiles) - len(captions))]
        return heatmap, tile_gallery(tiles, captions)
