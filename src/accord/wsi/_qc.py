"""A quality-control picture of a slide: thumbnail, tissue outline and the tile grid."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from accord.wsi._reader import SlideReader
from accord.wsi._tiling import Tile
from accord.wsi._tissue import TissueMask

__all__ = ["qc_thumbnail"]

_OUTLINE_RGB = (0, 200, 0)
_TILE_RGB = (0, 80, 255)


def qc_thumbnail(
    reader: SlideReader,
    mask: TissueMask,
    tiles: Sequence[Tile],
    out: Path,
    max_size: int = 1024,
) -> Path:
    """Write ``out`` (PNG): the thumbnail with the tissue outline (green) and tiles (blue).

    Written to a temporary file beside ``out`` and renamed, so readers never see half a PNG.
    """
    thumb = reader.thumbnail(max_size)
    rows, cols = thumb.shape[:2]
    image = Image.fromarray(_with_outline(thumb, mask))
    draw = ImageDraw.Draw(image)
    sx, sy = cols / reader.info.width, rows / reader.info.height
    for tile in tiles:
        box = (tile.x * sx, tile.y * sy, (tile.x + tile.size) * sx, (tile.y + tile.size) * sy)
        draw.rectangle(box, outline=_TILE_RGB)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, out)
    return out


def _with_outline(thumb: np.ndarray, mask: TissueMask) -> np.ndarray:
    """The thumbnail with the mask's boundary painted, the mask resized to fit (nearest)."""
    rows, cols = thumb.shape[:2]
    resized = Image.fromarray(mask.mask.astype(np.uint8) * 255).resize(
        (cols, rows), Image.Resampling.NEAREST
    )
    inside = np.asarray(resized) > 0
    edge = inside & ~ndimage.binary_erosion(inside, iterations=max(1, max(rows, cols) // 512))
    painted = thumb.copy()
    painted[edge] = _OUTLINE_RGB
    return painted
