"""Procedural HCC histology painted pixel by pixel as haematoxylin/eosin densities.

What is painted, and why (CLINICAL_NOTES, HCC after resection):

* **background**: bare glass, white-ish with scanner noise;
* **stroma**: wavy pale-pink collagen fibres with sparse spindle nuclei (fibrous septa);
* **trabeculae**: cords of hepatocytes, each cell a pink cytoplasm with a faint membrane
  and a haematoxylin nucleus, cords separated by sinusoids lined by endothelium. The cord
  thickness is set in cells: thin (2-3 cells) in ordinary tumour, thick (8-10 cells, > 6)
  in the **macrotrabecular-massive** pattern that roughly doubles early recurrence;
* **vessels**: round lumens with red cells, lined by endothelium and a fibrous wall,
  scattered through the tissue (vascular spaces);
* **VETC**: vessels encapsulating tumour clusters: round nests of tumour cords each wrapped
  in an endothelial lining and surrounded by blood-filled vascular space;
* **immune infiltrates**: dense, small, dark lymphocyte nuclei (a favourable pattern);
* **pen marks**: blue, green or black ink on the glass, never part of the tissue.

All structures are functions of level-0 coordinates and the slide seed (cells sit on
hashed lattices), so a tile painted alone matches its neighbours without seams; only the
scanner noise comes from the per-tile ``rng``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from accord.synth._stain import StainProfile, render_he

__all__ = ["paint_region"]

FloatArray = NDArray[np.float32]
UInt64Array = NDArray[np.uint64]
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NOISE_BANK = np.random.default_rng(0x5CA7).normal(0.0, 2.0, (1024, 1024)).astype(np.float32)


def paint_region(
    shape: tuple[int, int],
    layout_masks: Mapping[str, NDArray[np.bool_]],
    rng: np.random.Generator,
    profile: StainProfile,
    *,
    origin: tuple[int, int] = (0, 0),
    mpp: float = 0.5,
    seed: int = 0,
    warp_px: FloatArray | None = None,
    pen_rgb: tuple[float, float, float] = (0.22, 0.36, 0.80),
) -> NDArray[np.uint8]:
    """Paint an (H, W, 3) uint8 RGB region whose top-left level-0 pixel is ``origin``.

    ``layout_masks`` holds boolean (H, W) masks named "tissue", "stroma",
    "macrotrabecular", "vetc", "immune" and "pen" (missing names count as all False);
    tissue outside the named patterns and stroma is ordinary thin-trabecular tumour.
    ``warp_px`` bends the trabeculae (level-0 pixels); ``rng`` drives the scanner noise.
    """
    tissue = layout_masks.get("tissue")
    if tissue is not None and tissue.any():
        h_den = np.zeros(shape, dtype=np.float32)
        e_den = np.zeros(shape, dtype=np.float32)
        ys = np.arange(origin[0], origin[0] + shape[0], dtype=np.float32)
        xs = np.arange(origin[1], origin[1] + shape[1], dtype=np.float32)
        grid = _Grid(ys, xs, np.zeros(shape, np.float32) if warp_px is None else warp_px, mpp)
        _paint_tissue(h_den, e_den, grid, layout_masks, seed)
        e_den += tissue * (0.015 * _noise(rng, shape))
        rgb = render_he(np.maximum(h_den, 0), np.maximum(e_den, 0), profile).astype(np.float32)
    else:
        rgb = np.empty((*shape, 3), dtype=np.float32)
        rgb[...] = np.asarray(profile.background, dtype=np.float32)
    rgb += _noise(rng, shape)[..., None]
    pen = layout_masks.get("pen")
    if pen is not None and pen.any():
        ink = np.asarray(pen_rgb, dtype=np.float32) * (1 + 0.02 * _noise(rng, shape)[..., None])
        rgb = np.where(pen[..., None], rgb * ink, rgb)
    out: NDArray[np.uint8] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return out


def _noise(rng: np.random.Generator, shape: tuple[int, int]) -> FloatArray:
    """Scanner noise, standard deviation 2 grey levels: a random window of a fixed bank."""
    side = _NOISE_BANK.shape[0]
    if shape[0] > side // 2 or shape[1] > side // 2:
        return rng.normal(0.0, 2.0, shape).astype(np.float32)
    y, x = rng.integers(0, side // 2, size=2)
    return _NOISE_BANK[y : y + shape[0], x : x + shape[1]]


class _Grid:
    """Level-0 coordinates of a region: 1-D ``ys``/``xs`` and the 2-D trabecular warp."""

    def __init__(self, ys: FloatArray, xs: FloatArray, warp: FloatArray, mpp: float) -> None:
        self.ys, self.xs, self.warp, self.mpp = ys, xs, warp, mpp
        self.shape = (ys.size, xs.size)

    def px(self, microns: float) -> float:
        return microns / self.mpp


def _paint_tissue(
    h_den: FloatArray,
    e_den: FloatArray,
    grid: _Grid,
    masks: Mapping[str, NDArray[np.bool_]],
    seed: int,
) -> None:
    false = np.zeros(grid.shape, dtype=bool)
    tissue = masks["tissue"]
    special = {k: masks.get(k, false) for k in ("macrotrabecular", "vetc", "immune", "stroma")}
    plain = tissue.copy()
    for m in special.values():
        plain &= ~m
    painters: dict[str, tuple[NDArray[np.bool_], Callable[[], tuple[FloatArray, FloatArray]]]] = {
        "plain": (plain, lambda: _trabecular(grid, seed, cells_thick=2)),
        "macrotrabecular": (
            special["macrotrabecular"],
            lambda: _trabecular(grid, seed + 1, cells_thick=9),
        ),
        "vetc": (special["vetc"], lambda: _vetc(grid, seed + 2)),
        "immune": (special["immune"], lambda: _immune(grid, seed + 3)),
        "stroma": (special["stroma"], lambda: _stroma(grid, seed + 4)),
    }
    for mask, paint in painters.values():
        if mask.any():
            h, e = paint()
            np.copyto(h_den, h, where=mask)
            np.copyto(e_den, e, where=mask)
    vessel_area = plain | special["stroma"]
    if vessel_area.any():
        _overlay_vessels(h_den, e_den, grid, seed + 5, vessel_area)


def _mix(*keys: NDArray[np.int64] | int) -> UInt64Array:
    """SplitMix64-style hash of integer lattice keys (broadcast together)."""
    h = np.asarray(_GOLDEN, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            h = h ^ (np.asarray(key, dtype=np.int64).astype(np.uint64) + _GOLDEN)
            h = (h ^ (h >> np.uint64(30))) * _M1
            h = (h ^ (h >> np.uint64(27))) * _M2
            h = h ^ (h >> np.uint64(31))
    return np.asarray(h, dtype=np.uint64)


def _unit(h: UInt64Array, field: int) -> FloatArray:
    """The ``field``-th 16-bit slice (0..3) of a hash as a float in [0, 1)."""
    bits = (h >> np.uint64(16 * field)) & np.uint64(0xFFFF)
    return bits.astype(np.float32) / np.float32(65536.0)


def _blobs(
    grid: _Grid,
    seed: int,
    *,
    spacing_um: float,
    radius_um: tuple[float, float],
    presence: float,
    shift_px: float = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """Round blobs on a jittered square lattice: (density in [0, 1], distance / radius)."""
    step = grid.px(spacing_um)
    fy, iy = np.modf((grid.ys + shift_px) / step)
    fx, ix = np.modf((grid.xs + shift_px) / step)
    cells = _mix(seed, iy.astype(np.int64)[:, None], ix.astype(np.int64)[None, :])
    r_lo, r_hi = radius_um[0] / spacing_um, radius_um[1] / spacing_um
    radius = r_lo + (r_hi - r_lo) * _unit(cells, 2)
    room = np.maximum(0.5 - 1.3 * radius, 0.0)
    cy = 0.5 + (2 * _unit(cells, 0) - 1) * room
    cx = 0.5 + (2 * _unit(cells, 1) - 1) * room
    rel = np.sqrt((fy[:, None] - cy) ** 2 + (fx[None, :] - cx) ** 2) / radius
    rel = np.where(_unit(cells, 3) < presence, rel, np.float32(np.inf))
    density = np.clip(1 - rel**2, 0, 1) ** 0.4
    return density.astype(np.float32), rel.astype(np.float32)


def _trabecular(grid: _Grid, seed: int, *, cells_thick: int) -> tuple[FloatArray, FloatArray]:
    """Cords ``cells_thick`` hepatocytes wide separated by endothelium-lined sinusoids."""
    cell = grid.px(22.0)
    sinus = grid.px(9.0)
    angle = np.pi * _unit(_mix(seed, 7), 0)
    ca, sa = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    across = grid.xs[None, :] * ca + grid.ys[:, None] * sa + grid.warp
    along = grid.ys[:, None] * ca - grid.xs[None, :] * sa
    cord = cells_thick * cell
    band = np.floor(across / (cord + sinus))
    pos = across - band * (cord + sinus)
    col = np.floor(pos / cell)
    fa = pos / cell - col
    v = along / cell + 0.37 * col + 0.61 * band
    row = np.floor(v)
    fv = v - row
    cells = _mix(seed, band.astype(np.int64), col.astype(np.int64), row.astype(np.int64))
    radius = 0.2 + 0.09 * _unit(cells, 2)
    cy = 0.5 + (_unit(cells, 0) - 0.5) * 0.35
    cx = 0.5 + (_unit(cells, 1) - 0.5) * 0.35
    rel = np.sqrt((fa - cx) ** 2 + (fv - cy) ** 2) / radius
    nucleus = np.clip(1 - rel**2, 0, 1) ** 0.4 * (_unit(cells, 3) < 0.9)
    edge = np.minimum(np.minimum(fa, 1 - fa), np.minimum(fv, 1 - fv)) * cell
    in_cord = pos < cord
    lining = (np.abs(pos - cord) < grid.px(1.2)) | (pos > cord + sinus - grid.px(1.2))
    h = np.where(in_cord, 1.05 * nucleus + 0.06, 0.35 * lining)
    e = np.where(in_cord, 0.42 + 0.18 * (edge < grid.px(1.0)) - 0.25 * nucleus, 0.06)
    return h.astype(np.float32), e.astype(np.float32)


def _immune(grid: _Grid, seed: int) -> tuple[FloatArray, FloatArray]:
    """Dense lymphocytes: small round very dark nuclei on a pale stromal background."""
    dens, _ = _blobs(grid, seed, spacing_um=7.5, radius_um=(2.6, 3.4), presence=0.85)
    return (1.5 * dens + 0.05).astype(np.float32), (0.22 - 0.15 * dens).astype(np.float32)


def _stroma(grid: _Grid, seed: int) -> tuple[FloatArray, FloatArray]:
    """Wavy collagen fibres with sparse small nuclei."""
    angle = np.pi * _unit(_mix(seed, 11), 0)
    wave = grid.xs[None, :] * np.float32(np.cos(angle)) + grid.ys[:, None] * np.float32(
        np.sin(angle)
    )
    phase = (wave + 0.5 * grid.warp) * np.float32(2 * np.pi / grid.px(7.0))
    fibres = (0.5 + 0.5 * np.sin(phase)) ** 3
    nuclei, _ = _blobs(grid, seed, spacing_um=30.0, radius_um=(2.5, 3.5), presence=0.35)
    h = 0.9 * nuclei + 0.03
    e = 0.30 + 0.35 * fibres - 0.2 * nuclei
    return h.astype(np.float32), e.astype(np.float32)


def _vetc(grid: _Grid, seed: int) -> tuple[FloatArray, FloatArray]:
    """Tumour nests each wrapped by endothelium, floating in blood-filled vascular space."""
    _, rel = _blobs(grid, seed, spacing_um=150.0, radius_um=(45.0, 60.0), presence=1.0)
    lining_rel = grid.px(3.0) / grid.px(52.0)
    h_t, e_t = _trabecular(grid, seed, cells_thick=2)
    blood, _ = _blobs(grid, seed + 1, spacing_um=8.0, radius_um=(3.0, 3.6), presence=0.5)
    inside = rel < 1.0
    lining = (rel >= 1.0) & (rel < 1.0 + lining_rel)
    h = np.where(inside, h_t, np.where(lining, 0.75, 0.02))
    e = np.where(inside, e_t, np.where(lining, 0.30, 0.12 + 0.75 * blood))
    return h.astype(np.float32), e.astype(np.float32)


def _overlay_vessels(
    h_den: FloatArray, e_den: FloatArray, grid: _Grid, seed: int, area: NDArray[np.bool_]
) -> None:
    """Sparse round vessels: lumen with red cells, endothelial lining, fibrous wall."""
    _, rel = _blobs(grid, seed, spacing_um=400.0, radius_um=(25.0, 70.0), presence=0.3)
    if not (rel < 1.3).any():
        return
    blood, _ = _blobs(grid, seed + 1, spacing_um=8.0, radius_um=(3.0, 3.6), presence=0.3)
    lumen = area & (rel < 1.0)
    lining = area & (rel >= 1.0) & (rel < 1.06)
    wall = area & (rel >= 1.06) & (rel < 1.25)
    h_den[lumen], e_den[lumen] = 0.0, (0.05 + 0.8 * blood)[lumen]
    h_den[lining], e_den[lining] = 0.8, 0.3
    h_den[wall], e_den[wall] = 0.05, 0.7
