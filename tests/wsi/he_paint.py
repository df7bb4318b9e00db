"""Synthetic H&E-like tiles painted by Beer–Lambert, for stain and feature tests.

A tile is white glass with a tissue region whose haematoxylin and eosin concentrations
vary smoothly and independently, plus round nuclei (dense haematoxylin) at known,
non-overlapping positions. Concentrations are in OD units along unit stain vectors.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

# Ruifrok & Johnston's H and E optical-density vectors (as in skimage.color.rgb_from_hed)
H_VECTOR = np.array([0.65, 0.70, 0.29])
E_VECTOR = np.array([0.07, 0.99, 0.11])
# a second, clearly different lab's stains (bluer haematoxylin, redder eosin)
H_VECTOR_ALT = np.array([0.50, 0.78, 0.38])
E_VECTOR_ALT = np.array([0.20, 0.90, 0.38])


def _unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return v / np.linalg.norm(v)


def _smooth_field(rng: np.random.Generator, size: int, low: float, high: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma=size / 10)
    field = (field - field.min()) / max(float(np.ptp(field)), 1e-9)
    return low + (high - low) * field


def nucleus_centres(rng: np.random.Generator, size: int, count: int, radius: int) -> list:
    """``count`` non-overlapping centres on a jittered grid of cells 3.5 radii wide."""
    cell = int(3.5 * radius)
    cells = [(r, c) for r in range(size // cell) for c in range(size // cell)]
    if count > len(cells):
        raise ValueError(f"at most {len(cells)} nuclei fit, asked for {count}")
    chosen = rng.choice(len(cells), size=count, replace=False)
    jitter = rng.integers(-radius // 3, radius // 3 + 1, size=(count, 2))
    return [
        (cells[k][0] * cell + cell // 2 + dy, cells[k][1] * cell + cell // 2 + dx)
        for k, (dy, dx) in zip(chosen, jitter, strict=True)
    ]


def paint_he(
    size: int = 224,
    nuclei: int = 25,
    seed: int = 0,
    radius: int = 7,
    h_strength: float = 1.0,
    e_strength: float = 1.0,
    h_vector: npt.NDArray[np.float64] = H_VECTOR,
    e_vector: npt.NDArray[np.float64] = E_VECTOR,
    glass_columns: int = 0,
) -> npt.NDArray[np.uint8]:
    """A (size, size, 3) uint8 H&E-like tile; the last ``glass_columns`` columns are glass."""
    rng = np.random.default_rng(seed)
    h = _smooth_field(rng, size, 0.25, 0.45)
    e = _smooth_field(rng, size, 0.35, 0.95)
    yy, xx = np.mgrid[:size, :size]
    for cy, cx in nucleus_centres(rng, size, nuclei, radius):
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        h[disc] = 1.6 + 0.2 * rng.random()
        e[disc] *= 0.4
    conc = np.stack([h * h_strength, e * e_strength], axis=-1)
    if glass_columns:
        conc[:, size - glass_columns :] = 0.0
    matrix = np.stack([_unit(h_vector), _unit(e_vector)])  # (2, 3)
    od = conc @ matrix + rng.normal(0.0, 0.01, size=(size, size, 3))
    return np.clip(np.rint(255.0 * np.exp(-od)), 0, 255).astype(np.uint8)
