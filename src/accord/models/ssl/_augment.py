"""SimCLR views of histology tiles: crop, flips, 90° rotations, HED jitter, blur, normalise.

All randomness comes from the caller's ``numpy.random.Generator``, so a seed fixes the
views exactly. Histology has no canonical orientation, hence the eight dihedral poses;
colour is jittered in haematoxylin-eosin-DAB space (Tellez et al. 2018) rather than in
RGB, which mimics stain variation between labs instead of producing unphysical colours.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.color import hed2rgb, rgb2hed
from torch.nn import functional

from accord.core import ConfigError, DataError

__all__ = ["MEAN", "STD", "check_tiles", "normalise", "simclr_views"]

#: Per-channel RGB mean and standard deviation (ImageNet's, on [0, 1] values) used to
#: normalise views; exported in the encoder's preprocessing sidecar.
MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

CROP_SCALE = (0.3, 1.0)  # fraction of the tile area kept by the random resized crop
CROP_LOG_RATIO = (math.log(3 / 4), math.log(4 / 3))
# skimage's HED channels are optical densities divided by -log(1e-6) ~ 13.8, so typical
# H&E values are 0.005-0.1 and a shift of 0.003 moves white background by ~10 / 255.
HED_SCALE_SIGMA = 0.1  # stain concentration multiplied by U(1 - s, 1 + s) per channel
HED_SHIFT_SIGMA = 0.003  # ... and shifted by U(-s, s) per channel
JITTER_PROB = 0.8
BLUR_PROB = 0.5
BLUR_SIGMA_PX = (0.1, 1.5)  # at 64 px; scaled with the output size


def check_tiles(tiles: np.ndarray) -> None:
    """Raise :class:`DataError` unless ``tiles`` is uint8 (n, h, w, 3) with n >= 1."""
    if tiles.dtype != np.uint8 or tiles.ndim != 4 or tiles.shape[-1] != 3 or len(tiles) < 1:
        raise DataError(
            f"tiles: got {tiles.dtype} array of shape {tiles.shape}; expected uint8 (n, h, w, 3)"
        )


def normalise(rgb: torch.Tensor) -> torch.Tensor:
    """(n, 3, h, w) float in [0, 1] -> per-channel ``(x - MEAN) / STD``, float32."""
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (rgb.float() - mean) / std


def simclr_views(
    tiles: np.ndarray, rng: np.random.Generator, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent random views of each tile, each (n, 3, size, size) float32 normalised."""
    check_tiles(tiles)
    if size < 8:
        raise ConfigError(f"simclr_views: size must be >= 8 pixels, got {size}")
    return _view(tiles, rng, size), _view(tiles, rng, size)


def _view(tiles: np.ndarray, rng: np.random.Generator, size: int) -> torch.Tensor:
    geo = torch.stack([_crop_flip_rotate(t, rng, size) for t in tiles])  # (n, 3, S, S) in [0, 1]
    rgb = _hed_jitter(geo.permute(0, 2, 3, 1).numpy(), rng)
    blurred = _gaussian_blur(torch.from_numpy(rgb).permute(0, 3, 1, 2), rng, size)
    return normalise(blurred).contiguous()


def _crop_flip_rotate(tile: np.ndarray, rng: np.random.Generator, size: int) -> torch.Tensor:
    """Random resized crop (area ``CROP_SCALE``, aspect ``CROP_LOG_RATIO``), flip, rot90."""
    h, w = tile.shape[:2]
    area = h * w * rng.uniform(*CROP_SCALE)
    ratio = math.exp(rng.uniform(*CROP_LOG_RATIO))
    ch = int(np.clip(round(math.sqrt(area / ratio)), 1, h))
    cw = int(np.clip(round(math.sqrt(area * ratio)), 1, w))
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    crop = tile[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = np.rot90(crop, k=int(rng.integers(0, 4)))
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255.0
    out = functional.interpolate(
        x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return out[0].clamp_(0.0, 1.0)


def _hed_jitter(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, h, w, 3) float in [0, 1] -> same, stains scaled and shifted per tile and channel."""
    n = len(rgb)
    apply = rng.random(n) < JITTER_PROB
    scale = rng.uniform(1 - HED_SCALE_SIGMA, 1 + HED_SCALE_SIGMA, size=(n, 1, 1, 3))
    shift = rng.uniform(-HED_SHIFT_SIGMA, HED_SHIFT_SIGMA, size=(n, 1, 1, 3))
    out = rgb.astype(np.float32, copy=True)
    if apply.any():
        hed = rgb2hed(rgb[apply].astype(np.float64))
        jittered = hed2rgb(hed * scale[apply] + shift[apply])
        out[apply] = np.clip(jittered, 0.0, 1.0)
    return out


def _gaussian_blur(x: torch.Tensor, rng: np.random.Generator, size: int) -> torch.Tensor:
    """Separable Gaussian blur with a per-tile sigma (sigma 0 = identity for skipped tiles)."""
    n = x.shape[0]
    scale = size / 64.0
    sigma = rng.uniform(*BLUR_SIGMA_PX, size=n) * scale
    sigma[rng.random(n) >= BLUR_PROB] = 0.0
    radius = max(1, math.ceil(3 * BLUR_SIGMA_PX[1] * scale))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    s = torch.as_tensor(np.maximum(sigma, 1e-3), dtype=torch.float32)[:, None]
    kernel = torch.exp(-0.5 * (offsets[None] / s) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(3, dim=0)  # (3n, k)
    flat = x.reshape(1, 3 * n, *x.shape[2:])
    flat = functional.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = functional.conv2d(flat, kernel[:, None, None, :], groups=3 * n)
    flat = functional.conv2d(flat, kernel[:, None, :, None], groups=3 * n)
    return flat.reshape(x.shape)
