"""From slides to tile features at a site: tissue → tiles → (stain normalisation) → extractor.

Results go to the site's :class:`~accord.wsi._cache.FeatureCache`; slides already there are
skipped, a slide that cannot be read is reported at the end and the batch goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
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
    """Extract (or load from the cache) every slide's features; failures are collected.

    Slides not in the cache are extracted on a small process pool when there are enough
    of them and the extractor can be sent to one (the same features: one slide per task).
    """
    identity = extractor.identity()
    results: dict[Path, SlideFeatures] = {}
    report = ExtractionReport()
    todo: list[tuple[Path, str]] = []
    for path in paths:
        try:
            digest = slide_hash(path)
        except SlideReadError as exc:
            report.failed[path] = str(exc)
            continue
        cached = cache.get(digest, identity, tiling)
        if cached is None:
            todo.append((path, digest))
            continue
        results[path] = cached
        report.cached.append(path)
        report.tiles += cached.n_tiles
    finished = len(paths) - len(todo)
    jobs = [_Job(path, extractor, tiling, slide_mpp, normaliser) for path, _ in todo]
    for (path, digest), outcome in zip(todo, _extract_all(jobs), strict=True):
        if isinstance(outcome, str):
            report.failed[path] = outcome
        else:
            cache.put(digest, identity, tiling, outcome)
            results[path] = outcome
            report.done.append(path)
            report.tiles += outcome.n_tiles
        finished += 1
        if progress is not None:
            progress(path, finished, len(paths))
    return {path: results[path] for path in paths if path in results}, report


_MAX_WORKERS = 2
_POOL_MIN_SLIDES = 8  # below that, starting workers (their imports) costs more than it saves


@dataclass(frozen=True)
class _Job:
    path: Path
    extractor: FeatureExtractor
    tiling: TilingParams
    slide_mpp: float | None
    normaliser: StainNormaliser | None


def _extract_all(jobs: list[_Job]) -> Iterator[SlideFeatures | str]:
    """Each job's features or its error, in order; on a process pool when worth it."""
    workers = min(_MAX_WORKERS, os.cpu_count() or 1, len(jobs))
    if workers <= 1 or len(jobs) < _POOL_MIN_SLIDES or not _picklable(jobs[0]):
        yield from map(_extract_one, jobs)
        return
    context = multiprocessing.get_context("forkserver")  # no fork of a threaded parent
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_extract_one, jobs)


def _picklable(job: _Job) -> bool:
    try:
        pickle.dumps(job)
    except Exception:  # an extractor holding a loaded model, a lock, an open file
        return False
    return True


def _extract_one(job: _Job) -> SlideFeatures | str:
    try:
        with open_slide(job.path, job.slide_mpp) as reader:
            return extract_slide(reader, job.extractor, job.tiling, job.normaliser)
    except SlideReadError as exc:
        return str(exc)
