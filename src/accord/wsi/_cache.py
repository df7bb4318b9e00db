"""Per-site tile feature cache: one file per (slide, extractor, tiling), write-then-rename.

A cache entry holds, for one slide, the level-0 coordinates and size of every tissue tile
and the extractor's features for each, keyed by the SHA-256 of the slide file, the
extractor's identity (weights and preprocessing) and the tiling parameters. Reruns skip
slides whose entry exists; an interrupted run loses at most the slide in progress.
Features and coordinates stay at the site: they describe its patients' slides.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from accord.core import SlideReadError, canonical_json, floats_as_strings, sha256_hex

__all__ = ["FeatureCache", "SlideFeatures", "TilingParams", "slide_hash"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class TilingParams:
    """Where features come from: tiles of ``tile_px`` pixels at ``mpp`` µm/px."""

    mpp: float = 0.5
    tile_px: int = 224
    overlap_px: int = 0
    min_tissue: float = 0.5
    normaliser: str = "none"

    def key(self) -> str:
        return sha256_hex(canonical_json(floats_as_strings(asdict(self))))


@dataclass(frozen=True)
class SlideFeatures:
    """``coords`` (n, 2) level-0 (x, y) int64; ``tile_size`` level-0 px; ``features`` (n, d)."""

    coords: np.ndarray
    tile_size: int
    features: np.ndarray
    tissue_fraction: np.ndarray

    @property
    def n_tiles(self) -> int:
        return int(self.coords.shape[0])


def slide_hash(path: Path) -> str:
    """SHA-256 of the slide file, streamed (memory flat in slide size)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise SlideReadError(f"{path}: cannot read the slide file ({exc.strerror})") from None
    return digest.hexdigest()


class FeatureCache:
    """A folder of safetensors files, one per (slide hash, extractor, tiling)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path_for(self, slide: str, extractor: str, tiling: TilingParams) -> Path:
        return self.folder / f"{slide[:20]}-{extractor[:12]}-{tiling.key()[:12]}.safetensors"

    def get(self, slide: str, extractor: str, tiling: TilingParams) -> SlideFeatures | None:
        path = self.path_for(slide, extractor, tiling)
        if not path.exists():
            return None
        arrays = load_file(str(path))
        return SlideFeatures(
            coords=arrays["coords"],
            tile_size=int(arrays["tile_size"][0]),
            features=arrays["features"],
            tissue_fraction=arrays["tissue_fraction"],
        )

    def put(
        self, slide: str, extractor: str, tiling: TilingParams, features: SlideFeatures
    ) -> Path:
        path = self.path_for(slide, extractor, tiling)
        arrays: dict[str, np.ndarray] = {
            "coords": np.ascontiguousarray(features.coords, dtype=np.int64),
            "tile_size": np.array([features.tile_size], dtype=np.int64),
            "features": np.ascontiguousarray(features.features, dtype=np.float32),
            "tissue_fraction": np.ascontiguousarray(features.tissue_fraction, dtype=np.float32),
        }
        meta = {"slide": slide, "extractor": extractor, "tiling": json.dumps(asdict(tiling))}
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        os.close(fd)
        try:
            save_file(arrays, tmp, metadata=meta)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
