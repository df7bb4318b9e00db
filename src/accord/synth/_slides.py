"""Synthetic whole-slide images with planted HCC histology and their ground truth.

A slide is generated in two passes so that memory does not grow with its size:

1. the coarse layout (:mod:`accord.synth._layout`): tissue blobs on glass, regions of the
   prognostic patterns (macrotrabecular-massive, VETC, immune infiltrates) planted at the
   requested fraction of the tissue area, fibrous septa, optional pen strokes on the glass;
2. the pixels, one row of tiles at a time (:mod:`accord.synth._histology`), rendered with the
   site's stain (:mod:`accord.synth._stain`) and streamed into a tiled pyramidal OME-TIFF
   (:mod:`accord.synth._pyramid`). Structures depend only on the seed and level-0
   coordinates; the scanner noise of tile ``i`` comes from ``default_rng([seed, i])``, so a
   seed gives the same file byte for byte.

The returned :class:`SyntheticSlide` is the ground truth a study needs: tissue mask, one
mask per pattern and the pen mask, all at ``mask_downsample``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from accord.core import ConfigError
from accord.synth._histology import paint_region
from accord.synth._layout import PATTERNS, Layout, make_layout
from accord.synth._pyramid import write_pyramid
from accord.synth._stain import HOSPITAL_PROFILES, StainProfile

__all__ = ["SyntheticSlide", "mask_downsample_for", "write_cohort_slides", "write_slide"]

_NO_PATTERNS: Mapping[str, float] = MappingProxyType({})
_COMPRESSIONS = ("jpeg", "zlib", "lzw", "none")
_MAX_MASK_SIDE = 1024
_MAX_THREADS = 2
_CHUNK_ROWS = 64
_UUID_NAMESPACE = uuid.UUID("6f1c2a4e-5b0d-4e8a-9a57-acc0d5a1de00")


@dataclass(frozen=True)
class SyntheticSlide:
    """A written slide and its ground truth.

    ``tissue_mask`` and every array in ``pattern_masks`` (keys: "macrotrabecular", "vetc",
    "immune") are bool, of shape (ceil(height / d), ceil(width / d)) with
    d = ``mask_downsample``; mask pixel (i, j) covers level-0 pixels [i*d, (i+1)*d) x
    [j*d, (j+1)*d). Pattern masks lie inside the tissue mask; ``pen_mask`` (ink on the
    glass) lies outside it.
    """

    path: Path
    mpp: float
    width: int
    height: int
    tissue_mask: NDArray[np.bool_]
    mask_downsample: int
    pattern_masks: dict[str, NDArray[np.bool_]]
    pen_mask: NDArray[np.bool_] = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))

    def pattern_fractions(self) -> dict[str, float]:
        """Area of each pattern as a fraction of the tissue area."""
        tissue = max(int(self.tissue_mask.sum()), 1)
        return {name: float(mask.sum()) / tissue for name, mask in self.pattern_masks.items()}


def mask_downsample_for(height: int, width: int) -> int:
    """Power of two (>= 8) that keeps the ground-truth masks at most 1024 pixels a side."""
    d = 8
    while max(height, width) > d * _MAX_MASK_SIDE:
        d *= 2
    return d


def write_slide(
    path: Path,
    *,
    width: int,
    height: int,
    mpp: float = 0.5,
    seed: int,
    profile: str = "hospital_a",
    patterns: Mapping[str, float] = _NO_PATTERNS,
    pen_marks: bool = False,
    tile: int = 256,
    levels: int = 3,
    compression: str = "jpeg",
) -> SyntheticSlide:
    """Paint and write a pyramidal tiled OME-TIFF slide; return its ground truth.

    ``patterns`` maps pattern names ("macrotrabecular", "vetc", "immune") to the fraction
    of the tissue area they cover (sum <= 1). Levels halve the size one after another.
    """
    stain = _check_args(width, height, mpp, profile, tile, levels, compression)
    path = Path(path)
    d = mask_downsample_for(height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = make_layout(
        height, width, downsample=d, mpp=mpp, seed=seed, patterns=patterns, pen_marks=pen_marks
    )
    write_pyramid(
        path,
        _strips(layout, stain, seed=seed, mpp=mpp, tile=tile),
        height=height,
        width=width,
        tile=tile,
        levels=levels,
        mpp=mpp,
        compression=compression,
        uuid=str(uuid.uuid5(_UUID_NAMESPACE, f"{seed}/{width}x{height}/{mpp}/{profile}")),
    )
    masks = layout.grid_masks()
    return SyntheticSlide(
        path=path,
        mpp=mpp,
        width=width,
        height=height,
        tissue_mask=masks["tissue"],
        mask_downsample=d,
        pattern_masks={name: masks[name] for name in PATTERNS},
        pen_mask=masks["pen"],
    )


def write_cohort_slides(
    folder: Path,
    n: int,
    seed: int,
    profile: str,
    pattern_rates: Mapping[str, float],
    *,
    width: int = 2048,
    height: int = 2048,
    mpp: float = 0.5,
    pen_mark_rate: float = 0.1,
) -> list[SyntheticSlide]:
    """Write ``n`` slides for one site into ``folder`` (``slide_0000.ome.tif``, ...).

    ``pattern_rates[name]`` is the share of patients whose slide carries the pattern
    (e.g. macrotrabecular-massive ~0.12 in HCC); a carrier's slide gets the pattern on a
    fraction of its tissue drawn from U(0.15, 0.45). The planted fractions are the slides'
    ``pattern_fractions()``, the ground truth for a study.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0xC0])
    slides = []
    for i in range(n):
        planted = {
            name: float(rng.uniform(0.15, 0.45))
            for name, rate in pattern_rates.items()
            if rng.random() < rate
        }
        total = sum(planted.values())
        if total > 0.9:
            planted = {name: f * 0.9 / total for name, f in planted.items()}
        slide_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        slides.append(
            write_slide(
                folder / f"slide_{i:04d}.ome.tif",
                width=width,
                height=height,
                mpp=mpp,
                seed=slide_seed,
                profile=profile,
                patterns=planted,
                pen_marks=bool(rng.random() < pen_mark_rate),
            )
        )
    return slides


def _check_args(
    width: int, height: int, mpp: float, profile: str, tile: int, levels: int, compression: str
) -> StainProfile:
    if profile not in HOSPITAL_PROFILES:
        raise ConfigError(
            f"profile: unknown stain profile {profile!r}; expected one of "
            f"{sorted(HOSPITAL_PROFILES)}"
        )
    if width < 1 or height < 1 or not mpp > 0:
        raise ConfigError("write_slide: width and height must be >= 1 and mpp > 0")
    if tile < 16 or tile % 16:
        raise ConfigError(f"tile: expected a positive multiple of 16, got {tile}")
    if levels < 1:
        raise ConfigError(f"levels: expected >= 1, got {levels}")
    if compression not in _COMPRESSIONS:
        raise ConfigError(f"compression: expected one of {_COMPRESSIONS}, got {compression!r}")
    return HOSPITAL_PROFILES[profile]


def _strips(
    layout: Layout, stain: StainProfile, *, seed: int, mpp: float, tile: int
) -> Iterator[NDArray[np.uint8]]:
    """Rows of painted level-0 tiles, top to bottom, each (tile or less, width, 3).

    Tiles of a row are painted on a few threads (numpy releases the GIL); each tile's
    pixels depend only on the seed and its index, so the result does not depend on timing.
    """
    n_cols = -(-layout.width // tile)

    def paint(ty: int, tx: int, strip: NDArray[np.uint8]) -> None:
        x0, w = tx * tile, min(tile, layout.width - tx * tile)
        rng = np.random.default_rng([seed, ty * n_cols + tx])
        for dy in range(0, strip.shape[0], _CHUNK_ROWS):  # bounds the temporaries per thread
            y0, h = ty * tile + dy, min(_CHUNK_ROWS, strip.shape[0] - dy)
            masks, warp = layout.region(y0, x0, h, w)
            strip[dy : dy + h, x0 : x0 + w] = paint_region(
                (h, w),
                masks,
                rng,
                stain,
                origin=(y0, x0),
                mpp=mpp,
                seed=seed,
                warp_px=warp,
                pen_rgb=layout.pen_rgb,
            )

    workers = min(_MAX_THREADS, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for ty, y0 in enumerate(range(0, layout.height, tile)):
            strip = np.empty((min(tile, layout.height - y0), layout.width, 3), dtype=np.uint8)
            list(pool.map(lambda tx: paint(ty, tx, strip), range(n_cols)))  # noqa: B023
            yield strip
