"""The slide-reader base class and its metadata records.

Every read is addressed in level-0 pixels; ``mpp`` is microns per pixel at level 0. A
backend implements :meth:`SlideReader.read_region` and :meth:`SlideReader.close`; the base
class builds microns-per-pixel reads (:meth:`SlideReader.read_mpp`) and memory-bounded
thumbnails on top of it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
from PIL import Image

from accord.core import SlideReadError

__all__ = [
    "MIN_MPP_RATIO",
    "LevelInfo",
    "SlideInfo",
    "SlideReader",
    "check_mpp",
    "level_coordinate",
]

#: The finest mpp a read may ask for, as a fraction of the slide's own mpp (2x upsampling).
MIN_MPP_RATIO = 0.5
#: A level counts as "at least as fine as requested" up to this relative excess in mpp.
_LEVEL_TOLERANCE = 1e-2
#: Thumbnails are assembled from source blocks of at most this many pixels a side.
_THUMB_BLOCK_PX = 4096


@dataclass(frozen=True)
class LevelInfo:
    """One pyramid level: its size in pixels and its downsample from level 0."""

    width: int
    height: int
    downsample: float


@dataclass(frozen=True)
class SlideInfo:
    """What a reader knows about its slide; ``mpp`` is microns per level-0 pixel."""

    path: Path
    backend: str
    vendor: str
    width: int
    height: int
    mpp: float
    magnification: float | None
    levels: tuple[LevelInfo, ...]


def check_mpp(info: SlideInfo, mpp: float) -> None:
    """Raise :class:`SlideReadError` unless ``mpp`` is positive and >= half the slide's mpp."""
    if not math.isfinite(mpp) or mpp <= 0:
        raise SlideReadError(f"{info.path.name}: requested mpp must be > 0 (got {mpp!r})")
    if mpp < info.mpp * MIN_MPP_RATIO * (1 - 1e-9):
        raise SlideReadError(
            f"{info.path.name}: requested {mpp:g} µm/px is finer than "
            f"{MIN_MPP_RATIO:g} x the slide's {info.mpp:g} µm/px; upsampling that far is refused"
        )


def level_coordinate(coordinate0: int, downsample: float) -> int:
    """The pixel index, at a level of ``downsample``, that holds level-0 ``coordinate0``."""
    return math.floor(coordinate0 / downsample + 1e-9)


class SlideReader(ABC):
    """A whole-slide image open for reading. Use as a context manager."""

    info: SlideInfo

    @abstractmethod
    def read_region(self, x: int, y: int, width: int, height: int, level: int = 0) -> np.ndarray:
        """RGB uint8 ``(height, width, 3)`` from level-0 ``(x, y)``, sized in ``level`` pixels.

        Areas outside the slide are white (255).
        """

    @abstractmethod
    def close(self) -> None:
        """Release the file handle; further reads are undefined."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def best_level(self, mpp: float) -> int:
        """The coarsest level whose mpp is still <= ``mpp`` (1 % tolerance), else 0."""
        best = 0
        for index, level in enumerate(self.info.levels):
            fine_enough = self.info.mpp * level.downsample <= mpp * (1 + _LEVEL_TOLERANCE)
            if fine_enough and level.downsample >= self.info.levels[best].downsample:
                best = index
        return best

    def level_region(self, x: int, y: int, extent0: float, level: int) -> tuple[int, int, int]:
        """The ``(x, y, side)`` in ``level`` pixels that a level-0 square of ``extent0`` maps to."""
        downsample = self.info.levels[level].downsample
        side = max(1, round(extent0 / downsample))
        return level_coordinate(x, downsample), level_coordinate(y, downsample), side

    def read_mpp(self, x: int, y: int, size_px: int, mpp: float) -> np.ndarray:
        """A ``(size_px, size_px, 3)`` tile at ``mpp`` whose top-left is level-0 ``(x, y)``.

        It covers ``size_px * mpp / info.mpp`` level-0 pixels, read at :meth:`best_level`
        and resized with PIL (antialiased bilinear). Raises :class:`SlideReadError` for an
        mpp finer than half the slide's.
        """
        check_mpp(self.info, mpp)
        if size_px < 1:
            raise SlideReadError(f"{self.info.path.name}: tile size must be >= 1 px")
        level = self.best_level(mpp)
        _, _, side = self.level_region(x, y, size_px * mpp / self.info.mpp, level)
        region = self.read_region(x, y, side, side, level)
        if side == size_px:
            return region
        image = Image.fromarray(region).resize((size_px, size_px), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)

    def thumbnail(self, max_size: int) -> np.ndarray:
        """The whole slide as RGB uint8 with its longest side <= ``max_size``.

        Read from the coarsest level at least as large as the output, block by block, so
        memory stays bounded even for a single-level slide.
        """
        if max_size < 1:
            raise SlideReadError(f"{self.info.path.name}: thumbnail size must be >= 1 px")
        info = self.info
        scale0 = max(info.width, info.height) / max_size
        out_w = max(1, min(max_size, math.floor(info.width / max(scale0, 1.0))))
        out_h = max(1, min(max_size, math.floor(info.height / max(scale0, 1.0))))
        level = self._thumbnail_level(info.width / out_w)
        return self._resample_level(level, out_w, out_h)

    def _thumbnail_level(self, downsample: float) -> int:
        usable = [
            i for i, lv in enumerate(self.info.levels) if lv.downsample <= downsample * (1 + 1e-6)
        ]
        return max(usable, key=lambda i: self.info.levels[i].downsample, default=0)

    def _resample_level(self, level: int, out_w: int, out_h: int) -> np.ndarray:
        lv = self.info.levels[level]
        sx, sy = lv.width / out_w, lv.height / out_h
        block = max(1, math.floor(_THUMB_BLOCK_PX / max(sx, sy, 1.0)))
        out = np.empty((out_h, out_w, 3), dtype=np.uint8)
        for oy in range(0, out_h, block):
            for ox in range(0, out_w, block):
                bw, bh = min(block, out_w - ox), min(block, out_h - oy)
                out[oy : oy + bh, ox : ox + bw] = self._resample_block(
                    level, (ox * sx, oy * sy, (ox + bw) * sx, (oy + bh) * sy), (bw, bh)
                )
        return out

    def _resample_block(
        self, level: int, box: tuple[float, float, float, float], size: tuple[int, int]
    ) -> np.ndarray:
        lv = self.info.levels[level]
        x0, y0 = math.floor(box[0]), math.floor(box[1])
        x1, y1 = min(lv.width, math.ceil(box[2])), min(lv.height, math.ceil(box[3]))
        ds = lv.downsample
        x_0, y_0 = math.ceil(x0 * ds - 1e-9), math.ceil(y0 * ds - 1e-9)
        region = self.read_region(x_0, y_0, x1 - x0, y1 - y0, level)
        if region.shape[:2] == (size[1], size[0]):
            return region
        local = (box[0] - x0, box[1] - y0, min(box[2], x1) - x0, min(box[3], y1) - y0)
        image = Image.fromarray(region).resize(size, Image.Resampling.BILINEAR, box=local)
        return np.asarray(image, dtype=np.uint8)
