"""Stain normalisation of H&E tiles: Macenko (optical-density SVD) and Reinhard (LAB).

Both normalisers satisfy :class:`StainNormaliser`: ``fit`` on a target tile (uint8 RGB,
shape ``(h, w, 3)``), then ``transform`` any number of source tiles of the same kind.

Optical density (OD) is Beer–Lambert: ``od = -ln(max(I, 1) / 255)`` per channel, so white
glass is ``od = 0`` and a stain's OD is proportional to its concentration.

Failure policy: ``fit`` on a target without enough tissue raises :class:`ConfigError`
naming the problem (a target is chosen once, by a person). ``transform`` never raises on
a bad tile (blank glass, one stain only, NaNs): it returns the tile unchanged (or
Reinhard-normalised when :class:`MacenkoNormaliser` is built with
``fallback="reinhard"``) and adds one to the normaliser's ``fallbacks`` counter.

References: Macenko et al., "A method for normalizing histology slides for quantitative
analysis", ISBI 2009; Reinhard et al., "Color transfer between images", IEEE CG&A 2001.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal, Protocol, Self, TypeVar

import numpy as np
import numpy.typing as npt
from skimage.color import lab2rgb, rgb2lab

from accord.core import ConfigError, DataError

__all__ = [
    "NORMALISERS",
    "LabStatistics",
    "MacenkoNormaliser",
    "ReinhardNormaliser",
    "StainEstimate",
    "StainEstimationError",
    "StainNormaliser",
    "check_tile",
    "estimate_stains",
    "lab_statistics",
    "od_to_rgb",
    "optical_density",
]

RGBTile = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]

_T = TypeVar("_T")
_WHITE = 255.0
_MAX_SAMPLES = 65_536  # pixels used to estimate stains; more changes nothing but time


class StainEstimationError(DataError):
    """Stains cannot be estimated from a tile; ``str(error)`` says why (no tile values)."""


class StainNormaliser(Protocol):
    """Maps the stain appearance of source tiles onto that of a target tile."""

    name: str
    fallbacks: int  # tiles returned un-normalised (or by the fallback) so far

    def fit(self, target: RGBTile) -> Self:
        """Learn the target's stain appearance; ConfigError when it shows no tissue."""
        ...

    def transform(self, tile: RGBTile) -> RGBTile:
        """The tile with the target's stain appearance; never raises on a bad tile."""
        ...


def check_tile(tile: npt.ArrayLike, what: str = "tile") -> RGBTile:
    """``tile`` as a uint8 array of shape (h, w, 3); DataError naming ``what`` otherwise."""
    arr = np.asarray(tile)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or arr.size == 0:
        raise DataError(
            f"{what}: expected a non-empty uint8 RGB array of shape (h, w, 3), "
            f"got {arr.dtype} array of shape {arr.shape}"
        )
    return arr


def optical_density(tile: RGBTile) -> FloatArray:
    """Beer–Lambert OD per channel, ``(h, w, 3)`` float64, 0 for white, ~5.5 for black."""
    return -np.log(np.maximum(tile, 1).astype(np.float64) / _WHITE)


def od_to_rgb(od: FloatArray) -> RGBTile:
    """Inverse of :func:`optical_density`, clipped to uint8."""
    rgb = _WHITE * np.exp(-od)
    return np.clip(np.rint(np.nan_to_num(rgb, nan=_WHITE)), 0, 255).astype(np.uint8)


# --- Macenko ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StainEstimate:
    """Stain vectors and stain strength of one tile.

    ``stain_matrix`` is ``(3, 2)``: unit OD vectors of haematoxylin (column 0) and eosin
    (column 1). ``max_concentrations`` is ``(2,)``: the 99th percentile of each stain's
    concentration over tissue pixels (OD units along the unit vector).
    """

    stain_matrix: FloatArray
    max_concentrations: FloatArray


def _stained_pixels(od: FloatArray, beta: float, min_pixels: int) -> FloatArray:
    """``(n, 3)`` OD of pixels with OD >= beta in every channel (Macenko's rule), subsampled."""
    flat = od.reshape(-1, 3)
    stained = flat[np.all(flat >= beta, axis=1)]
    if not np.all(np.isfinite(stained)):
        raise StainEstimationError("tile has non-finite optical densities")
    if stained.shape[0] < min_pixels:
        raise StainEstimationError(
            f"too little tissue: {stained.shape[0]} pixels with OD >= {beta} in every "
            f"channel, expected at least {min_pixels}"
        )
    step = max(1, stained.shape[0] // _MAX_SAMPLES)
    return stained[::step]


def _stain_plane(od: FloatArray) -> FloatArray:
    """``(3, 2)`` orthonormal basis of the plane of the two largest OD variations."""
    values, vectors = np.linalg.eigh(np.cov(od, rowvar=False))
    if not np.all(np.isfinite(values)) or values[2] <= 0 or values[1] <= 1e-9 * values[2]:
        raise StainEstimationError("degenerate stain plane: tissue OD varies along one line")
    plane = vectors[:, [2, 1]]
    signs = np.where(plane.sum(axis=0) < 0, -1.0, 1.0)  # point into positive OD
    return plane * signs


def _extreme_vectors(od: FloatArray, plane: FloatArray, alpha: float) -> FloatArray:
    """``(3, 2)`` unit stain vectors at the alpha/(100 - alpha) angle percentiles, H first."""
    projected = od @ plane
    angles = np.arctan2(projected[:, 1], projected[:, 0])
    low, high = np.percentile(angles, [alpha, 100.0 - alpha])
    v_low = plane @ np.array([np.cos(low), np.sin(low)])
    v_high = plane @ np.array([np.cos(high), np.sin(high)])
    # haematoxylin absorbs more red than eosin does
    pair = (v_low, v_high) if v_low[0] > v_high[0] else (v_high, v_low)
    matrix: FloatArray = np.stack(pair, axis=1)
    matrix = matrix / np.linalg.norm(matrix, axis=0, keepdims=True)
    if not np.all(np.isfinite(matrix)) or np.linalg.cond(matrix) > 1e3:
        raise StainEstimationError("stain vectors are nearly parallel (one stain only?)")
    return matrix


def _concentrations(od: FloatArray, stain_matrix: FloatArray) -> FloatArray:
    """``(n, 2)`` least-squares stain concentrations of ``(n, 3)`` OD rows."""
    result: FloatArray = od @ np.linalg.pinv(stain_matrix).T
    return result


def estimate_stains(
    tile: RGBTile, beta: float = 0.15, alpha: float = 1.0, min_pixels: int = 256
) -> StainEstimate:
    """Macenko's stain vectors and strength; StainEstimationError when the tile lacks them."""
    od = _stained_pixels(optical_density(check_tile(tile)), beta, min_pixels)
    matrix = _extreme_vectors(od, _stain_plane(od), alpha)
    max_c = np.percentile(_concentrations(od, matrix), 99.0, axis=0)
    if not np.all(np.isfinite(max_c)) or np.any(max_c <= 1e-6):
        raise StainEstimationError("a stain has no positive concentration")
    return StainEstimate(stain_matrix=matrix, max_concentrations=max_c)


class MacenkoNormaliser:
    """Macenko stain normalisation: re-express each tile's H and E in the target's vectors.

    ``beta``: OD below which a channel counts as background (paper: 0.15); ``alpha``:
    angle percentile for the extreme stain vectors (paper: 1); ``min_pixels``: stained
    pixels needed for an estimate; ``fallback``: what ``transform`` returns for a tile
    whose stains cannot be estimated (``"identity"`` or ``"reinhard"``).
    """

    name: str = "macenko"

    def __init__(
        self,
        beta: float = 0.15,
        alpha: float = 1.0,
        min_pixels: int = 256,
        fallback: Literal["identity", "reinhard"] = "identity",
    ) -> None:
        if fallback not in ("identity", "reinhard"):
            raise ConfigError(
                f"macenko fallback: expected 'identity' or 'reinhard', got {fallback!r}"
            )
        self.beta, self.alpha, self.min_pixels, self.fallback = beta, alpha, min_pixels, fallback
        self.fallbacks = 0
        self.target: StainEstimate | None = None
        self._reinhard: ReinhardNormaliser | None = None

    def fit(self, target: RGBTile) -> Self:
        """Estimate the target's stains; ConfigError naming the problem when it has none."""
        try:
            self.target = estimate_stains(target, self.beta, self.alpha, self.min_pixels)
        except StainEstimationError as error:
            raise ConfigError(f"macenko target tile: {error}") from None
        if self.fallback == "reinhard":
            self._reinhard = ReinhardNormaliser(min_pixels=self.min_pixels).fit(target)
        return self

    def transform(self, tile: RGBTile) -> RGBTile:
        """``tile`` (uint8, (h, w, 3)) with the target's stain vectors and strengths."""
        target = _require_fitted(self.target, self.name)
        tile = check_tile(tile)
        try:
            source = estimate_stains(tile, self.beta, self.alpha, self.min_pixels)
        except StainEstimationError:
            self.fallbacks += 1
            return self._reinhard.transform(tile) if self._reinhard is not None else tile.copy()
        od = optical_density(tile).reshape(-1, 3)
        conc = _concentrations(od, source.stain_matrix)
        conc *= target.max_concentrations / source.max_concentrations
        return od_to_rgb((conc @ target.stain_matrix.T).reshape(tile.shape))


# --- Reinhard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabStatistics:
    """Mean and standard deviation of L*, a*, b* over a tile's tissue pixels, each ``(3,)``."""

    mean: FloatArray
    std: FloatArray


def _tissue_weight(od: FloatArray, beta: float) -> FloatArray:
    """``(h, w)`` in [0, 1]: 0 on white glass, 1 where some channel has OD >= 2 beta."""
    weight: FloatArray = np.clip(od.max(axis=-1) / (2.0 * beta), 0.0, 1.0)
    return weight


def lab_statistics(tile: RGBTile, beta: float = 0.15, min_pixels: int = 256) -> LabStatistics:
    """LAB statistics of the pixels with OD >= beta in some channel; StainEstimationError if few."""
    tile = check_tile(tile)
    tissue = optical_density(tile).max(axis=-1) >= beta
    if int(tissue.sum()) < min_pixels:
        raise StainEstimationError(
            f"too little tissue: {int(tissue.sum())} pixels with OD >= {beta}, "
            f"expected at least {min_pixels}"
        )
    lab = rgb2lab(tile)[tissue]
    mean, std = lab.mean(axis=0), lab.std(axis=0)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))) or np.any(std < 1e-3):
        raise StainEstimationError("tissue colour does not vary (flat tile)")
    return LabStatistics(mean=mean, std=std)


class ReinhardNormaliser:
    """Reinhard colour transfer: match LAB mean and std of tissue pixels to the target's.

    Statistics come from tissue pixels only (OD >= ``beta`` in some channel) so the
    amount of white glass in a tile does not shift them; the mapped colour is blended
    with the original by a tissue weight so white glass stays white.
    """

    name: str = "reinhard"

    def __init__(self, beta: float = 0.15, min_pixels: int = 256) -> None:
        self.beta, self.min_pixels = beta, min_pixels
        self.fallbacks = 0
        self.target: LabStatistics | None = None

    def fit(self, target: RGBTile) -> Self:
        """Learn the target's LAB statistics; ConfigError naming the problem when it has none."""
        try:
            self.target = lab_statistics(target, self.beta, self.min_pixels)
        except StainEstimationError as error:
            raise ConfigError(f"reinhard target tile: {error}") from None
        return self

    def transform(self, tile: RGBTile) -> RGBTile:
        """``tile`` (uint8, (h, w, 3)) with the target's LAB mean and std on tissue."""
        target = _require_fitted(self.target, self.name)
        tile = check_tile(tile)
        try:
            source = lab_statistics(tile, self.beta, self.min_pixels)
        except StainEstimationError:
            self.fallbacks += 1
            return tile.copy()
        lab = (rgb2lab(tile) - source.mean) / source.std * target.std + target.mean
        mapped = _lab_to_rgb(lab) * _WHITE
        weight = _tissue_weight(optical_density(tile), self.beta)[..., None]
        blended = weight * mapped + (1.0 - weight) * tile
        return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _lab_to_rgb(lab: FloatArray) -> FloatArray:
    """sRGB in [0, 1]; colours outside the gamut are clipped (quietly: that is expected)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Conversion from CIE-LAB", category=UserWarning)
        rgb: FloatArray = np.clip(lab2rgb(lab), 0.0, 1.0)
    return rgb


def _require_fitted(target: _T | None, name: str) -> _T:
    if target is None:
        raise ConfigError(f"{name} normaliser: call fit(target) before transform(tile)")
    return target


NORMALISERS: dict[str, type[MacenkoNormaliser] | type[ReinhardNormaliser]] = {
    "macenko": MacenkoNormaliser,
    "reinhard": ReinhardNormaliser,
}
