"""What the TorchScript and ONNX extractors share: reading the model file, its identity,
and running a network over tiles in batches."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from accord.core import ConfigError
from accord.models.extractors._base import (
    Embeddings,
    Preprocessing,
    Tiles,
    check_tiles,
    preprocess,
)

__all__ = ["check_batching", "embed_in_batches", "model_identity", "read_model_bytes"]

Network = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]  # NCHW -> (n, dim)


def read_model_bytes(path: Path, kind: str) -> bytes:
    """The bytes of a model file; ConfigError naming the file when it is missing or empty."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {kind} model file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: {kind} model file not readable ({error.strerror})") from None
    if not data:
        raise ConfigError(f"{path}: {kind} model file is empty")
    return data


def model_identity(kind: str, model_bytes: bytes, prep: Preprocessing) -> str:
    """Hex SHA-256 over the kind, the model bytes and the canonical preprocessing."""
    digest = hashlib.sha256()
    for part in (kind.encode(), model_bytes, prep.canonical()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def check_batching(batch_size: int, threads: int | None) -> None:
    """ConfigError unless batch_size >= 1 and threads is None or >= 1."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"extractor batch_size: expected an integer >= 1, got {batch_size!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"extractor threads: expected None or an integer >= 1, got {threads!r}")


def embed_in_batches(
    tiles: Tiles, prep: Preprocessing, network: Network, batch_size: int, dim: int
) -> Embeddings:
    """Preprocess and run ``network`` over ``tiles`` in chunks; ``(n, dim)`` float32."""
    tiles = check_tiles(tiles)
    out = np.empty((tiles.shape[0], dim), dtype=np.float32)
    for start in range(0, tiles.shape[0], batch_size):
        chunk = tiles[start : start + batch_size]
        out[start : start + chunk.shape[0]] = network(preprocess(chunk, prep))
    return out
