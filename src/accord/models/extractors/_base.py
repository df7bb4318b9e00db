"""The feature-extractor seam: tiles in, one embedding per tile out.

An extractor maps ``(n, h, w, 3)`` uint8 RGB tiles to ``(n, dim)`` float32 embeddings.
Its ``identity()`` is a stable hash of everything that decides the numbers (weights and
preprocessing), so tile-feature caches and the ledger can tell two extractors apart.

Models loaded from a file carry their preprocessing in a sidecar JSON beside the model,
``MODEL.preprocessing.json`` for ``MODEL.pt`` / ``MODEL.onnx``::

    {"input_size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from accord.core import ConfigError, DataError, canonical_json, floats_as_strings

__all__ = [
    "FeatureExtractor",
    "Preprocessing",
    "check_tiles",
    "load_preprocessing",
    "preprocess",
    "preprocessing_path",
]

Tiles = npt.NDArray[np.uint8]
Embeddings = npt.NDArray[np.float32]


class FeatureExtractor(Protocol):
    """Tiles to embeddings. ``dim`` is the embedding width; ``name`` the extractor kind."""

    name: str
    dim: int

    def identity(self) -> str:
        """Stable hex hash of weights + preprocessing, for caches and the ledger."""
        ...

    def embed(self, tiles: Tiles) -> Embeddings:
        """``(n, h, w, 3)`` uint8 RGB tiles -> ``(n, dim)`` float32 embeddings."""
        ...


@dataclass(frozen=True)
class Preprocessing:
    """Resize to ``input_size`` px (bilinear), scale to [0, 1], subtract ``mean``, divide by
    ``std`` (per RGB channel), lay out as NCHW float32."""

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def canonical(self) -> bytes:
        """Canonical JSON bytes (floats as their repr strings) for identity hashes."""
        fields = {"input_size": self.input_size, "mean": self.mean, "std": self.std}
        return canonical_json(floats_as_strings(fields))


def preprocessing_path(model_path: Path) -> Path:
    """The sidecar of ``model_path``: ``dir/MODEL.preprocessing.json`` for ``dir/MODEL.ext``."""
    return model_path.with_name(f"{model_path.stem}.preprocessing.json")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _triple(raw: dict[str, Any], field: str, where: Path) -> tuple[float, float, float]:
    value = raw.get(field)
    if not isinstance(value, list) or len(value) != 3 or not all(_is_number(v) for v in value):
        raise ConfigError(f"{where}: field '{field}' must be a list of 3 numbers")
    a, b, c = (float(v) for v in value)
    return a, b, c


def _parse_preprocessing(raw: Any, where: Path) -> Preprocessing:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a JSON object with input_size, mean and std")
    size = raw.get("input_size")
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 4096:
        raise ConfigError(f"{where}: field 'input_size' must be an integer in [8, 4096]")
    mean, std = _triple(raw, "mean", where), _triple(raw, "std", where)
    if not all(np.isfinite(mean)) or not all(s > 0 and np.isfinite(s) for s in std):
        raise ConfigError(f"{where}: fields 'mean' must be finite and 'std' positive")
    return Preprocessing(input_size=size, mean=mean, std=std)


def load_preprocessing(path: Path) -> Preprocessing:
    """Read a preprocessing sidecar; ``path`` is the JSON itself or the model it sits beside.

    Raises ConfigError naming the file (and field) when it is missing or malformed.
    """
    path = Path(path)
    sidecar = path if path.name.endswith(".preprocessing.json") else preprocessing_path(path)
    try:
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{sidecar}: preprocessing sidecar not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{sidecar}: not readable JSON ({type(error).__name__})") from None
    return _parse_preprocessing(raw, sidecar)


def check_tiles(tiles: npt.ArrayLike) -> Tiles:
    """``tiles`` as uint8 ``(n, h, w, 3)``; DataError naming the bad dtype or shape."""
    arr = np.asarray(tiles)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise DataError(
            f"tiles: expected uint8 array of shape (n, h, w, 3), got {arr.dtype} {arr.shape}"
        )
    if arr.shape[0] and (arr.shape[1] == 0 or arr.shape[2] == 0):
        raise DataError(f"tiles: expected non-empty tiles, got shape {arr.shape}")
    return arr


def _resize(tiles: Tiles, size: int) -> Tiles:
    if tiles.shape[1] == size and tiles.shape[2] == size:
        return tiles
    resized = [
        np.asarray(Image.fromarray(t).resize((size, size), Image.Resampling.BILINEAR))
        for t in tiles
    ]
    return np.stack(resized) if resized else np.zeros((0, size, size, 3), np.uint8)


def preprocess(tiles: Tiles, prep: Preprocessing) -> npt.NDArray[np.float32]:
    """``(n, h, w, 3)`` uint8 -> ``(n, 3, s, s)`` float32, resized and normalised."""
    mean, std = np.asarray(prep.mean, np.float32), np.asarray(prep.std, np.float32)
    scaled = _resize(check_tiles(tiles), prep.input_size).astype(np.float32) / np.float32(255.0)
    normalised: npt.NDArray[np.float32] = (scaled - mean) / std
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2))
