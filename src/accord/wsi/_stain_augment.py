"""Stain augmentation for training: random jitter of H, E and DAB in HED space.

After Tellez et al., "Whole-slide mitosis detection in H&E breast histology using PHH3 as
a reference to train distilled stain-invariant convolutional networks", IEEE TMI 2018
(and their 2019 MedIA study of colour augmentation): deconvolve the tile into
haematoxylin, eosin and DAB concentrations with the Ruifrok–Johnston matrix, draw per
channel ``a ~ U(1 - sigma_alpha, 1 + sigma_alpha)`` and ``b ~ U(-sigma_beta, sigma_beta)``
and set ``c' = a * c + b * c99 * w``, then recompose.

Two choices keep the jitter mild and unit-free: the shift ``b`` is relative to the tile's
99th-percentile concentration of that stain (``c99``), and it is applied in proportion
to a tissue weight ``w`` (0 on white glass, 1 on stained tissue) so glass stays white.
"""

from __future__ import annotations

import numpy as np
from skimage.color import hed_from_rgb, rgb_from_hed

from accord.core import ConfigError
from accord.wsi._stain import FloatArray, RGBTile, check_tile, od_to_rgb, optical_density

__all__ = ["augment_stain"]

_TISSUE_OD = 0.3  # OD (max over channels) from which a pixel counts fully as tissue


def _check_sigmas(sigma_alpha: float, sigma_beta: float) -> None:
    for name, value in (("sigma_alpha", sigma_alpha), ("sigma_beta", sigma_beta)):
        if not (np.isfinite(value) and 0.0 <= value < 1.0):
            raise ConfigError(f"augment_stain: {name} must be in [0, 1), got {value!r}")


def augment_stain(
    tile: RGBTile,
    rng: np.random.Generator,
    sigma_alpha: float = 0.2,
    sigma_beta: float = 0.2,
) -> RGBTile:
    """A copy of ``tile`` (uint8, (h, w, 3)) with randomly rescaled and shifted stains.

    Deterministic for a given ``rng`` state; draws exactly six numbers from it.
    """
    tile = check_tile(tile)
    _check_sigmas(sigma_alpha, sigma_beta)
    scale = rng.uniform(1.0 - sigma_alpha, 1.0 + sigma_alpha, size=3)
    shift = rng.uniform(-sigma_beta, sigma_beta, size=3)
    od = optical_density(tile).reshape(-1, 3)
    conc: FloatArray = od @ hed_from_rgb
    c99 = np.percentile(np.maximum(conc, 0.0), 99.0, axis=0)
    weight = np.clip(od.max(axis=1, keepdims=True) / _TISSUE_OD, 0.0, 1.0)
    jittered = conc * scale + shift * c99 * weight
    return od_to_rgb((jittered @ rgb_from_hed).reshape(tile.shape))
