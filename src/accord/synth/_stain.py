"""H&E stain profiles and Beer–Lambert rendering of stain densities to RGB.

Hospitals differ in their haematoxylin and eosin batches, staining times and scanners
(Aperio, Hamamatsu, 3DHistech: see CLINICAL_NOTES, "scanners differ by hospital, and so
does staining intensity"). A :class:`StainProfile` captures that as two optical-density
(OD) colour vectors, an overall intensity and the scanner's white point, so that the same
planted histology looks different from one synthetic site to the next, the domain shift a
federated model and a stain normaliser must cope with.

Rendering follows Beer–Lambert: for a pixel with haematoxylin density ``h`` and eosin
density ``e`` (stain amounts, about 0 to 2), the optical density per channel is
``OD = intensity * (h * hematoxylin + e * eosin)`` and the transmitted light is
``background * 10 ** -OD``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["HOSPITAL_PROFILES", "StainProfile", "render_he"]

Vector3 = tuple[float, float, float]


@dataclass(frozen=True)
class StainProfile:
    """One site's stain and scanner.

    ``hematoxylin`` and ``eosin`` are OD vectors (R, G, B) per unit stain density;
    ``intensity`` scales both (staining strength); ``background`` is the RGB of bare glass
    as the scanner records it.
    """

    hematoxylin: Vector3
    eosin: Vector3
    intensity: float
    background: tuple[int, int, int]


HOSPITAL_PROFILES: dict[str, StainProfile] = {
    # Reference H&E (Ruifrok & Johnston vectors), neutral scanner.
    "hospital_a": StainProfile((0.65, 0.70, 0.29), (0.07, 0.99, 0.11), 1.0, (242, 240, 244)),
    # Strong, blue-purple haematoxylin and pale eosin; cold, bright scanner.
    "hospital_b": StainProfile((0.72, 0.66, 0.26), (0.20, 0.62, 0.06), 1.3, (246, 247, 252)),
    # Over-stained magenta eosin; warm, yellowish scanner white point.
    "hospital_c": StainProfile((0.55, 0.80, 0.35), (0.02, 1.10, 0.45), 1.1, (238, 232, 220)),
    # Faded, pale stain (old batch, thin sections); very bright scanner.
    "hospital_d": StainProfile((0.62, 0.68, 0.38), (0.12, 0.85, 0.20), 0.6, (250, 250, 250)),
}


def render_he(
    h_density: NDArray[np.floating], e_density: NDArray[np.floating], profile: StainProfile
) -> NDArray[np.uint8]:
    """Render stain densities of shape (H, W) to an (H, W, 3) uint8 RGB image."""
    if h_density.shape != e_density.shape or h_density.ndim != 2:
        raise ValueError(
            f"render_he: h_density {h_density.shape} and e_density {e_density.shape} "
            "must be 2-D arrays of the same shape"
        )
    h_vec = np.asarray(profile.hematoxylin, dtype=np.float32) * profile.intensity
    e_vec = np.asarray(profile.eosin, dtype=np.float32) * profile.intensity
    white = np.asarray(profile.background, dtype=np.float32)
    h = np.asarray(h_density, dtype=np.float32)[..., None]
    e = np.asarray(e_density, dtype=np.float32)[..., None]
    od = h * h_vec + e * e_vec
    rgb = white * np.exp(od * np.float32(-np.log(10.0)))
    out: NDArray[np.uint8] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return out
