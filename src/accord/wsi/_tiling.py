"""Square tiles on a regular grid at a requested microns-per-pixel, kept where there is tissue."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from accord.core import SlideReadError
from accord.wsi._reader import SlideReader, check_mpp
from accord.wsi._tissue import TissueMask

__all__ = ["Tile", "read_tiles", "tile_grid"]


@dataclass(frozen=True)
class Tile:
    """A square tile: top-left ``(x, y)`` and side ``size`` in level-0 pixels."""

    x: int
    y: int
    size: int
    tissue_fraction: float


def tile_grid(
    reader: SlideReader,
    mask: TissueMask,
    mpp: float,
    tile_px: int,
    overlap_px: int = 0,
    min_tissue: float = 0.5,
) -> list[Tile]:
    """Tiles of ``tile_px`` at ``mpp`` with stride ``tile_px - overlap_px``, row-major.

    Every tile lies fully inside the slide at every level (so reads are never padded);
    kept when its tissue fraction (from ``mask``) is >= ``min_tissue``. Raises
    :class:`SlideReadError` for an mpp finer than half the slide's or a bad size/overlap.
    """
    check_mpp(reader.info, mpp)
    if tile_px < 1 or not 0 <= overlap_px < tile_px:
        raise SlideReadError(
            f"{reader.info.path.name}: need tile_px >= 1 and 0 <= overlap_px < tile_px "
            f"(got {tile_px}, {overlap_px})"
        )
    extent0 = tile_px * mpp / reader.info.mpp
    stride0 = (tile_px - overlap_px) * mpp / reader.info.mpp
    xs = _positions(reader, extent0, stride0, axis=0)
    ys = _positions(reader, extent0, stride0, axis=1)
    fractions = _tissue_fractions(mask, np.array(xs), np.array(ys), extent0)
    size = max(1, round(extent0))
    rows, cols = np.nonzero(fractions >= min_tissue)
    return [
        Tile(xs[c], ys[r], size, float(fractions[r, c]))
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
    ]


def read_tiles(
    reader: SlideReader, tiles: Iterable[Tile], mpp: float, tile_px: int
) -> Iterator[np.ndarray]:
    """Each tile as RGB uint8 ``(tile_px, tile_px, 3)`` at ``mpp``, lazily, in order."""
    for tile in tiles:
        yield reader.read_mpp(tile.x, tile.y, tile_px, mpp)


def _positions(reader: SlideReader, extent0: float, stride0: float, axis: int) -> list[int]:
    """Level-0 starts along one axis whose tile stays inside the slide at every level."""
    info = reader.info
    length0 = info.width if axis == 0 else info.height
    positions: list[int] = []
    for i in range(math.floor(max(length0 - extent0, 0) / stride0) + 2):
        start = round(i * stride0)
        if start + math.ceil(extent0 - 1e-9) > length0:
            break
        if all(_inside(reader, start, extent0, level, axis) for level in range(len(info.levels))):
            positions.append(start)
    return positions


def _inside(reader: SlideReader, start: int, extent0: float, level: int, axis: int) -> bool:
    lx, ly, side = reader.level_region(start, start, extent0, level)
    lv = reader.info.levels[level]
    return (lx if axis == 0 else ly) + side <= (lv.width if axis == 0 else lv.height)


def _tissue_fractions(
    mask: TissueMask, xs: np.ndarray, ys: np.ndarray, extent0: float
) -> np.ndarray:
    """(len(ys), len(xs)) share of set mask pixels under each level-0 square (>= 1 mask px)."""
    rows, cols = mask.mask.shape
    table = np.zeros((rows + 1, cols + 1), dtype=np.int64)  # summed-area table
    table[1:, 1:] = np.cumsum(np.cumsum(mask.mask, axis=0, dtype=np.int64), axis=1)
    c0, c1 = _cell_span(xs, extent0, mask.downsample, cols)
    r0, r1 = _cell_span(ys, extent0, mask.downsample, rows)
    total = (
        table[r1[:, None], c1[None, :]]
        - table[r0[:, None], c1[None, :]]
        - table[r1[:, None], c0[None, :]]
        + table[r0[:, None], c0[None, :]]
    )
    fractions: np.ndarray = total / ((r1 - r0)[:, None] * (c1 - c0)[None, :])
    return fractions


def _cell_span(
    starts: np.ndarray, extent0: float, downsample: float, cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mask cells ``[first, last)`` under each level-0 interval ``[start, start + extent0)``."""
    first = np.clip(np.rint(starts / downsample), 0, cells - 1).astype(np.int64)
    last = np.clip(np.rint((starts + extent0) / downsample), first + 1, cells).astype(np.int64)
    return first, last
