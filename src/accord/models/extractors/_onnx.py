"""Feature extraction with an ONNX model file on onnxruntime's CPU provider.

``MODEL.onnx`` takes one NCHW float32 input and its first output is flattened to
``(n, dim)``. A model exported with a fixed batch size is run that many tiles at a time.
The preprocessing sidecar ``MODEL.preprocessing.json`` must sit beside it (see ``base``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from accord.core import ConfigError
from accord.models.extractors._base import Embeddings, Tiles, load_preprocessing
from accord.models.extractors._model_file import (
    check_batching,
    embed_in_batches,
    model_identity,
    read_model_bytes,
)

__all__ = ["OnnxExtractor"]


def _open_session(path: Path, data: bytes, threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        raise ConfigError(f"{path}: not an ONNX model ({type(error).__name__})") from None
    if len(session.get_inputs()) != 1 or not session.get_outputs():
        raise ConfigError(f"{path}: expected an ONNX model with one input and an output")
    return session


def _fixed_batch(session: ort.InferenceSession) -> int | None:
    """The batch size the model was exported with, or None when it is dynamic."""
    first = session.get_inputs()[0].shape[0] if session.get_inputs()[0].shape else None
    return first if isinstance(first, int) and first > 0 else None


class OnnxExtractor:
    """Embeds tiles with an ONNX network, ``batch_size`` tiles at a time.

    ``threads`` sets onnxruntime's intra-op threads (None: its default). ``dim`` is
    found by a dry run on one blank input at load time.
    """

    name: str = "onnx"

    def __init__(self, path: Path, batch_size: int = 32, threads: int | None = None) -> None:
        check_batching(batch_size, threads)
        self.path, self.threads = Path(path), threads
        model_bytes = read_model_bytes(self.path, self.name)
        self.preprocessing = load_preprocessing(self.path)
        self._identity = model_identity(self.name, model_bytes, self.preprocessing)
        self._session = _open_session(self.path, model_bytes, threads)
        self._input = self._session.get_inputs()[0].name
        self._fixed = _fixed_batch(self._session)
        self.batch_size = self._fixed or batch_size
        size = self.preprocessing.input_size
        self.dim = int(self._run(np.zeros((1, 3, size, size), np.float32)).shape[1])

    def identity(self) -> str:
        """SHA-256 of the model bytes and canonical preprocessing (hex)."""
        return self._identity

    def _run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        rows = batch.shape[0]
        if self._fixed is not None and rows < self._fixed:  # pad a short last batch
            pad = np.zeros((self._fixed - rows, *batch.shape[1:]), np.float32)
            batch = np.concatenate([batch, pad])
        try:
            out = self._session.run(None, {self._input: batch})[0]
        except Exception as error:  # onnxruntime raises its own error types
            raise ConfigError(
                f"{self.path}: inference failed on a {tuple(batch.shape)} NCHW batch "
                f"({type(error).__name__})"
            ) from None
        out = np.asarray(out)
        if out.ndim == 0 or out.shape[0] != batch.shape[0]:
            raise ConfigError(f"{self.path}: expected an output with a row per input")
        result: npt.NDArray[np.float32] = out.reshape(out.shape[0], -1)[:rows].astype(np.float32)
        return result

    def embed(self, tiles: Tiles) -> Embeddings:
        """``(n, h, w, 3)`` uint8 RGB -> ``(n, dim)`` float32."""
        return embed_in_batches(tiles, self.preprocessing, self._run, self.batch_size, self.dim)
