"""From slides to tile features at a site: tissue → tiles → (stain normalisation) → extractor.

Results go to the site's :class:`~accord.wsi._cache.FeatureCache`; slides already there are
skipped, a slide that cannot be read is reported at the end and the batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accord.core import SlideReadError
from accord.models.extractors import FeatureExtractor
from accord.wsi import (
    FeatureCache,
    SlideFeatures,
    SlideReader,
    StainNormaliser,
    TilingParams,
    open_slide,
    read_tiles,
    slide_hash,
    tile_grid,
    tissue_mask,
)

__all__ = ["ExtractionReport", "extract_features", "extract_slide"]

Progress = Callable[[Path, int, int], None]


@dataclass
class ExtractionReport:
    done: list[Path] = field(default_factory=list)
    cached: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)
    tiles: int = 0


def extract_slide(
    reader: SlideReader,
    extractor: FeatureExtractor,
    tiling: TilingParams,
    normaliser: StainNormaliser | None = None,
    batch_size: int = 64,
) -> SlideFeatures:
    """Features of every tissue tile of one slide (memory: one batch of tiles at a time)."""
    mask = tissue_mask(reader)
    tiles = tile_grid(
        reader, mask, tiling.mpp, tiling.tile_px, tiling.overlap_px, tiling.min_tissue
    )
    chunks: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    for image in read_tiles(reader, tiles, tiling.mpp, tiling.tile_px):
        batch.append(normaliser.transform(image) if normaliser is not None else image)
        if len(batch) == batch_size:
            chunks.append(extractor.embed(np.stack(batch)))
            batch = []
    if batch:
        chunks.append(extractor.embed(np.stack(batch)))
    features = np.concatenate(chunks) if chunks else np.zeros((0, extractor.dim), np.float32)
    return SlideFeatures(
        coords=np.array([(t.x, t.y) for t in tiles], dtype=np.int64).reshape(-1, 2),
        tile_size=tiles[0].size if tiles else 0,
        features=features.astype(np.float32),
        tissue_fraction=np.array([t.tissue_fraction for t in tiles], dtype=np.float32),
    )


def extract_features(
    paths: Sequence[Path],
    extractor: FeatureExtractor,
    tiling: TilingParams,
    cache: FeatureCache,
    *,
    slide_mpp: float | None = None,
    normaliser: StainNormaliser | None = None,
    progress: Progress | None = None,
) -> tuple[dict[Path, SlideFeatures], ExtractionReport]:
    """Extract (or load from the cache) every slide's features; failures are collected."""
    identity = extractor.identity()
    results: dict[Path, SlideFeatures] = {}
    report = ExtractionReport()
    for i, path in enumerate(paths):
        try:
            digest = slide_hash(path)
            cached = cache.get(digest, identity, tiling)
            if cached is not None:
                results[path] = cached
                report.cached.append(path)
            else:
                with open_slide(path, slide_mpp) as reader:
                    results[path] = extract_slide(reader, extractor, tiling, normaliser)
                cache.put(digest, identity, tiling, results[path])
                report.done.append(path)
            report.tiles += results[path].n_tiles
        except SlideReadError as exc:
            report.failed[path] = str(exc)
        if progress is not None:
            progress(path, i + 1, len(paths))
    return results, report
