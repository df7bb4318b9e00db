"""Tiny pyramidal TIFF slides with painted tissue of known geometry, written with tifffile.

The painted slide is white glass (with faint noise) holding one elliptical H&E-coloured
blob; ``tissue_truth`` gives its exact level-0 mask. Levels are 2x2 block means, so a
lossless (zlib) slide stores exactly ``downsample_mean(image, 2**level)`` at each level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

WIDTH, HEIGHT = 1400, 1000
MPP = 0.5
ELLIPSE = (620.0, 480.0, 380.0, 260.0)  # centre x, centre y, semi-axis x, semi-axis y
PINK = np.array([225.0, 140.0, 185.0])
PURPLE = np.array([140.0, 80.0, 165.0])
PEN_BLUE = np.array([20.0, 60.0, 200.0])
PEN_GREEN = np.array([30.0, 150.0, 60.0])
PEN_BLACK = np.array([35.0, 35.0, 40.0])


@dataclass(frozen=True)
class PenStroke:
    """A straight ink stroke from (x0, y0) to (x1, y1), ``width`` px wide, level 0."""

    x0: int
    y0: int
    x1: int
    y1: int
    width: int
    rgb: tuple[float, float, float]

    def mask(self, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
        yy, xx = np.mgrid[:height, :width].astype(np.float64)
        dx, dy = self.x1 - self.x0, self.y1 - self.y0
        t = np.clip(((xx - self.x0) * dx + (yy - self.y0) * dy) / (dx * dx + dy * dy), 0, 1)
        dist = np.hypot(xx - (self.x0 + t * dx), yy - (self.y0 + t * dy))
        return dist <= self.width / 2


def tissue_truth(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The painted tissue (before ink) as a bool level-0 mask (rows, cols)."""
    cx, cy, ax, ay = ELLIPSE
    yy, xx = np.mgrid[:height, :width]
    return ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0


def paint_slide(
    seed: int = 0, pens: tuple[PenStroke, ...] = (), width: int = WIDTH, height: int = HEIGHT
) -> np.ndarray:
    """RGB uint8 (height, width, 3): glass, an H&E blob, then the ink strokes on top."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 242.0) + rng.normal(0, 2.0, (height, width, 1))
    tissue = tissue_truth(width, height)
    mix = rng.random((height, width, 1))
    texture = PINK * (1 - mix) + PURPLE * mix + rng.normal(0, 6.0, (height, width, 3))
    image[tissue] = texture[tissue]
    for pen in pens:
        image[pen.mask(width, height)] = pen.rgb
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def downsample_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Block mean by ``factor`` (dimensions must divide), rounded to uint8."""
    h, w = image.shape[0] // factor, image.shape[1] // factor
    blocks = image[: h * factor, : w * factor].reshape(h, factor, w, factor, -1)
    return np.rint(blocks.astype(np.float64).mean(axis=(1, 3))).astype(np.uint8)


def pyramid(image: np.ndarray, levels: int = 3) -> list[np.ndarray]:
    """Level 0 and successive 2x block means (each level from the previous one)."""
    out = [image]
    for _ in range(levels - 1):
        out.append(downsample_mean(out[-1], 2))
    return out


def write_pyramid(
    path: Path,
    image: np.ndarray,
    *,
    levels: int = 3,
    compression: str = "zlib",
    tile: tuple[int, int] | None = (128, 128),
    mpp: float | None = MPP,
    ome: bool = False,
    resolution_unit: str = "CENTIMETER",
) -> Path:
    """Write ``image`` as a pyramidal TIFF (SubIFDs), tiled unless ``tile`` is None."""
    images = pyramid(image, levels)
    options: dict[str, object] = {"compression": compression, "photometric": "rgb"}
    if image.ndim == 2:
        options["photometric"] = "minisblack"
    if tile is not None:
        options["tile"] = tile
    else:
        options["rowsperstrip"] = 64
    metadata: dict[str, object] | None = None
    if ome:
        metadata = {"axes": "YXS" if image.ndim == 3 else "YX"}
        if mpp is not None:
            metadata.update(PhysicalSizeX=mpp, PhysicalSizeXUnit="µm")
            metadata.update(PhysicalSizeY=mpp, PhysicalSizeYUnit="µm")
    with tifffile.TiffWriter(path, ome=ome) as writer:
        for level, data in enumerate(images):
            extra: dict[str, object] = {}
            if not ome and mpp is not None:
                per_unit = {"CENTIMETER": 1e4, "MICROMETER": 1.0, "INCH": 25_400.0}
                res = per_unit[resolution_unit] / (mpp * 2**level)
                extra.update(resolution=(res, res), resolutionunit=resolution_unit)
            if level == 0:
                extra.update(subifds=levels - 1, metadata=metadata)
            else:
                extra.update(subfiletype=1, metadata=None)
            writer.write(data, **options, **extra)  # type: ignore[arg-type]
    return path
