"""Coarse layout of a synthetic slide: where tissue, histological patterns and pen ink go.

The layout is decided once, at low resolution (one grid cell per ``downsample`` level-0
pixels), before any pixel is painted. It holds smooth random fields and thresholds:

* ``tissue``: smoothed noise pushed down near the slide edges and thresholded, giving a
  few tissue blobs surrounded by bare glass, as in a resection section;
* one field per planted pattern (``macrotrabecular``, ``vetc``, ``immune``; see
  CLINICAL_NOTES, HCC histology that carries prognosis): each pattern takes the tissue
  not already claimed by an earlier pattern whose field is highest, thresholded at the
  quantile that makes its area exactly the requested fraction of the tissue area;
* ``stroma``: narrow ridges of a noise field, like fibrous septa, in the remaining tissue;
* ``pen``: ink strokes on the glass, kept at least a few grid cells away from tissue;
* ``warp``: a smooth displacement (level-0 pixels) that bends hepatocyte trabeculae.

The same threshold rules are applied to the grid values (the ground-truth masks) and to
bilinear interpolations of the fields over a tile (what gets painted), so masks and pixels
agree up to the grid resolution and no full-resolution array is ever built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from accord.core import ConfigError

__all__ = ["FIELD_NAMES", "PATTERNS", "PEN_COLOURS", "Layout", "make_layout"]

PATTERNS: tuple[str, ...] = ("macrotrabecular", "vetc", "immune")
FIELD_NAMES: tuple[str, ...] = ("tissue", *PATTERNS, "stroma", "pen", "warp")
PEN_COLOURS: dict[str, tuple[float, float, float]] = {
    "blue": (0.22, 0.36, 0.80),
    "green": (0.25, 0.62, 0.36),
    "black": (0.12, 0.12, 0.15),
}
_STROMA_FRACTION = 0.2
_NO = np.float32(-1e6)

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Layout:
    """Low-resolution fields of shape (len(FIELD_NAMES), grid_h, grid_w) and thresholds.

    Grid cell (i, j) covers level-0 pixels [i*d, (i+1)*d) x [j*d, (j+1)*d), d = downsample.
    """

    height: int
    width: int
    downsample: int
    fields: FloatArray
    thresholds: FloatArray
    pen_rgb: tuple[float, float, float]

    def grid_masks(self) -> dict[str, BoolArray]:
        """Ground-truth masks on the grid: "tissue", each pattern, "stroma" and "pen"."""
        return classify(self.fields, self.thresholds)

    def region(self, y0: int, x0: int, h: int, w: int) -> tuple[dict[str, BoolArray], FloatArray]:
        """Masks and warp (level-0 pixels) for the level-0 region at (y0, x0) of size (h, w)."""
        rows = _axis_weights(y0, h, self.downsample, self.fields.shape[1])
        cols = _axis_weights(x0, w, self.downsample, self.fields.shape[2])
        block = self.fields[:, rows[0].min() : rows[1].max() + 1, cols[0].min() : cols[1].max() + 1]
        tissue_i, pen_i = FIELD_NAMES.index("tissue"), FIELD_NAMES.index("pen")
        empty = (
            block[tissue_i].max() <= self.thresholds[tissue_i]
            and block[pen_i].max() <= self.thresholds[pen_i]
        )
        if empty:
            false = np.zeros((h, w), dtype=bool)
            masks = {name: false for name in ("tissue", *PATTERNS, "stroma", "pen")}
            return masks, np.zeros((h, w), dtype=np.float32)
        values = _interpolate(self.fields, rows, cols)
        return classify(values, self.thresholds), values[FIELD_NAMES.index("warp")]


def classify(values: FloatArray, thresholds: FloatArray) -> dict[str, BoolArray]:
    """Apply the layout rules to field values of shape (len(FIELD_NAMES), ...)."""
    above = {
        name: values[i] > thresholds[i] for i, name in enumerate(FIELD_NAMES) if name != "warp"
    }
    tissue = above["tissue"]
    free = tissue.copy()
    masks: dict[str, BoolArray] = {"tissue": tissue}
    for name in PATTERNS:
        masks[name] = free & above[name]
        free &= ~masks[name]
    masks["stroma"] = free & above["stroma"]
    masks["pen"] = ~tissue & above["pen"]
    return masks


def make_layout(
    height: int,
    width: int,
    *,
    downsample: int,
    mpp: float,
    seed: int,
    patterns: Mapping[str, float],
    pen_marks: bool,
) -> Layout:
    """Draw the coarse layout of a ``height`` x ``width`` slide at ``mpp`` µm/pixel."""
    _check_patterns(patterns)
    rng = np.random.default_rng([seed, 0x1A7])
    gh, gw = -(-height // downsample), -(-width // downsample)
    um_per_cell = mpp * downsample
    n = len(FIELD_NAMES)
    fields = np.zeros((n, gh, gw), dtype=np.float32)
    thresholds = np.full(n, np.nan, dtype=np.float32)

    tissue = _smooth_noise(rng, (gh, gw), max(gh, gw) / 9) + 3.0 * _edge_ramp(gh, gw)
    fields[0] = tissue
    thresholds[0] = np.quantile(tissue, 1.0 - rng.uniform(0.35, 0.6))
    is_tissue = tissue > thresholds[0]
    n_tissue = int(is_tissue.sum())

    free = is_tissue.copy()
    region_sigma = min(400.0 / um_per_cell, max(gh, gw) / 8)
    for name in PATTERNS:
        i = FIELD_NAMES.index(name)
        fields[i] = _smooth_noise(rng, (gh, gw), max(region_sigma, 1.0))
        k = round(float(patterns.get(name, 0.0)) * n_tissue)
        thresholds[i] = _top_k_threshold(fields[i][free], k)
        free &= ~(fields[i] > thresholds[i])

    i = FIELD_NAMES.index("stroma")
    fields[i] = -np.abs(_smooth_noise(rng, (gh, gw), max(150.0 / um_per_cell, 1.0)))
    thresholds[i] = _top_k_threshold(fields[i][free], round(_STROMA_FRACTION * int(free.sum())))

    i = FIELD_NAMES.index("pen")
    pen_rng = np.random.default_rng([seed, 0x9E7])  # pen on/off leaves the rest unchanged
    fields[i] = _pen_field(pen_rng, is_tissue) if pen_marks else _NO
    thresholds[i] = 0.0
    warp = _smooth_noise(rng, (gh, gw), max(120.0 / um_per_cell, 1.0))
    fields[FIELD_NAMES.index("warp")] = warp * np.float32(60.0 / mpp)
    colour = PEN_COLOURS[str(pen_rng.choice(list(PEN_COLOURS)))]
    return Layout(height, width, downsample, fields, thresholds, colour)


def _check_patterns(patterns: Mapping[str, float]) -> None:
    unknown = sorted(set(patterns) - set(PATTERNS))
    if unknown:
        raise ConfigError(f"patterns: unknown name(s) {unknown}; expected some of {PATTERNS}")
    bad = [name for name, f in patterns.items() if not 0.0 <= f <= 1.0]
    if bad or sum(patterns.values()) > 1.0:
        raise ConfigError(
            "patterns: fractions of tissue area must lie in [0, 1] and sum to at most 1"
        )


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> FloatArray:
    """Gaussian-smoothed (periodic, by FFT) white noise scaled to unit standard deviation."""
    spectrum = ndimage.fourier_gaussian(
        np.fft.rfft2(rng.standard_normal(shape, dtype=np.float32)), sigma, n=shape[1]
    )
    field = np.fft.irfft2(spectrum, s=shape)
    out: FloatArray = ((field - field.mean()) / (field.std() + 1e-12)).astype(np.float32)
    return out


def _edge_ramp(gh: int, gw: int) -> FloatArray:
    """0 in the middle of the slide falling to -1 at its border (keeps tissue off the edges)."""
    y = np.minimum(np.arange(gh), np.arange(gh)[::-1]) / max(gh * 0.18, 1.0)
    x = np.minimum(np.arange(gw), np.arange(gw)[::-1]) / max(gw * 0.18, 1.0)
    near = np.minimum(np.minimum(y[:, None], x[None, :]), 1.0)
    return (near - 1.0).astype(np.float32)


def _top_k_threshold(values: FloatArray, k: int) -> np.float32:
    """Threshold t such that exactly ``k`` of ``values`` are > t."""
    if k <= 0 or values.size == 0:
        return np.float32(np.inf)
    if k >= values.size:
        return np.float32(-np.inf)
    ordered = np.sort(values)[::-1]
    return np.float32((float(ordered[k - 1]) + float(ordered[k])) / 2.0)


def _pen_field(rng: np.random.Generator, tissue: BoolArray) -> FloatArray:
    """Signed distance to 1-3 wobbly strokes on the glass, > 0 inside the ink, far from tissue."""
    gh, gw = tissue.shape
    away = ndimage.binary_dilation(tissue, iterations=3)
    room = ndimage.distance_transform_edt(~away)
    starts = np.argwhere(room > room.max() * 0.5)
    strokes = np.zeros((gh, gw), dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        y, x = (float(v) for v in starts[rng.integers(len(starts))])
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(6):
            heading += rng.normal(0, 0.5)
            step = max(gh, gw) * 0.05
            ny = float(np.clip(y + step * np.sin(heading), 0, gh - 1))
            nx = float(np.clip(x + step * np.cos(heading), 0, gw - 1))
            n = int(max(abs(ny - y), abs(nx - x))) + 2
            strokes[
                np.linspace(y, ny, n).round().astype(int), np.linspace(x, nx, n).round().astype(int)
            ] = True
            y, x = ny, nx
    half_width = max(1.5, 0.008 * max(gh, gw))
    field = half_width - ndimage.distance_transform_edt(~strokes)
    return np.where(away, _NO, field).astype(np.float32)


def _axis_weights(
    start: int, size: int, downsample: int, n: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], FloatArray]:
    """Bilinear neighbours and weights, along one axis, of level-0 pixels start..start+size."""
    u = (np.arange(start, start + size, dtype=np.float32) + 0.5) / downsample - 0.5
    base = np.floor(u)
    lo = np.clip(base, 0, n - 1).astype(np.intp)
    hi = np.clip(base + 1, 0, n - 1).astype(np.intp)
    return lo, hi, (u - base).astype(np.float32)


def _interpolate(
    fields: FloatArray,
    rows: tuple[NDArray[np.intp], NDArray[np.intp], FloatArray],
    cols: tuple[NDArray[np.intp], NDArray[np.intp], FloatArray],
) -> FloatArray:
    """Bilinear interpolation of all fields on the pixel grid given by ``rows`` x ``cols``."""
    r_lo, r_hi, wy = rows
    c_lo, c_hi, wx = cols
    c0 = int(c_lo.min())
    sub = fields[:, :, c0 : int(c_hi.max()) + 1]
    by_row = sub[:, r_lo] * (1 - wy)[None, :, None] + sub[:, r_hi] * wy[None, :, None]
    out = by_row[:, :, c_lo - c0] * (1 - wx) + by_row[:, :, c_hi - c0] * wx
    return out.astype(np.float32, copy=False)
