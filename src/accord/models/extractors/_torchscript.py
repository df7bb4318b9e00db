"""Feature extraction with a TorchScript model file on the CPU.

``MODEL.pt`` (from ``torch.jit.script`` or ``torch.jit.trace``) takes an NCHW float32
batch and returns one tensor per batch; its output is flattened to ``(n, dim)``. The
preprocessing sidecar ``MODEL.preprocessing.json`` must sit beside it (see ``base``).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from accord.core import ConfigError
from accord.models.extractors._base import Embeddings, Tiles, load_preprocessing
from accord.models.extractors._model_file import (
    check_batching,
    embed_in_batches,
    model_identity,
    read_model_bytes,
)

__all__ = ["TorchScriptExtractor"]

# torch.jit.load is untyped: give it a type once, here
_jit_load: Callable[..., torch.jit.ScriptModule] = torch.jit.load


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` intra-op threads (process-wide in torch), then restore."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _load_module(path: Path, data: bytes) -> torch.jit.ScriptModule:
    try:
        with warnings.catch_warnings():  # torch >= 2.10 flags TorchScript as deprecated
            warnings.filterwarnings(
                "ignore", r".*torch\.jit\.load.* is deprecated", DeprecationWarning
            )
            module = _jit_load(io.BytesIO(data), map_location="cpu")
    except Exception as error:  # torch raises RuntimeError, ValueError, pickle errors, ...
        raise ConfigError(f"{path}: not a TorchScript model ({type(error).__name__})") from None
    module.eval()
    return module


class TorchScriptExtractor:
    """Embeds tiles with a TorchScript network, ``batch_size`` tiles at a time.

    ``threads`` sets torch's intra-op threads while embedding (None: torch's default).
    ``dim`` is found by a dry run on one blank input at load time.
    """

    name: str = "torchscript"

    def __init__(self, path: Path, batch_size: int = 32, threads: int | None = None) -> None:
        check_batching(batch_size, threads)
        self.path, self.batch_size, self.threads = Path(path), batch_size, threads
        model_bytes = read_model_bytes(self.path, self.name)
        self.preprocessing = load_preprocessing(self.path)
        self._identity = model_identity(self.name, model_bytes, self.preprocessing)
        self._module = _load_module(self.path, model_bytes)
        size = self.preprocessing.input_size
        self.dim = int(self._run(np.zeros((1, 3, size, size), np.float32)).shape[1])

    def identity(self) -> str:
        """SHA-256 of the model bytes and canonical preprocessing (hex)."""
        return self._identity

    def _run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        with _torch_threads(self.threads), torch.inference_mode():
            try:
                out = self._module(torch.from_numpy(batch))
            except Exception as error:  # a scripted forward raises torch.jit.Error, ...
                raise ConfigError(
                    f"{self.path}: forward pass failed on a {tuple(batch.shape)} NCHW batch "
                    f"({type(error).__name__})"
                ) from None
        if not isinstance(out, torch.Tensor) or out.ndim == 0 or out.shape[0] != batch.shape[0]:
            raise ConfigError(f"{self.path}: expected one output tensor with a row per input")
        return out.reshape(out.shape[0], -1).to(torch.float32).numpy()

    def embed(self, tiles: Tiles) -> Embeddings:
        """``(n, h, w, 3)`` uint8 RGB -> ``(n, dim)`` float32."""
        return embed_in_batches(tiles, self.preprocessing, self._run, self.batch_size, self.dim)
