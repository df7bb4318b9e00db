"""Fixtures: small synthetic slides written once per module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from numpy.typing import NDArray

from accord.synth import SyntheticSlide, write_slide

PLANTED = {"macrotrabecular": 0.25, "vetc": 0.15, "immune": 0.1}


@pytest.fixture(scope="package")
def planted_slide(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSlide:
    """A 1024 x 1280 slide (tile 128) with all three patterns and pen marks."""
    path = tmp_path_factory.mktemp("slides") / "planted.ome.tif"
    return write_slide(
        path, width=1280, height=1024, seed=7, patterns=PLANTED, pen_marks=True, tile=128
    )


def read_level(path: Path, level: int = 0) -> NDArray[np.uint8]:
    with tifffile.TiffFile(path) as tif:
        image: NDArray[np.uint8] = tif.series[0].levels[level].asarray()
    return image


def optical_density(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Per-channel optical density, log10(255 / I)."""
    od: NDArray[np.float64] = np.log10(255.0 / np.maximum(rgb.astype(np.float64), 1.0))
    return od


def block_any(mask: NDArray[np.bool_], d: int) -> NDArray[np.bool_]:
    """Level-0 mask reduced to the ground-truth grid: True where any pixel of a block is."""
    h, w = -(-mask.shape[0] // d) * d, -(-mask.shape[1] // d) * d
    padded = np.zeros((h, w), dtype=bool)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    out: NDArray[np.bool_] = padded.reshape(h // d, d, w // d, d).any(axis=(1, 3))
    return out


def block_mean(image: NDArray[np.float64], d: int) -> NDArray[np.float64]:
    """(H, W, C) image averaged over d x d blocks (H, W multiples of d)."""
    h, w, c = image.shape
    out: NDArray[np.float64] = image.reshape(h // d, d, w // d, d, c).mean(axis=(1, 3))
    return out
