"""Where config text becomes an extractor: the one explicit dict of extractor kinds."""

from __future__ import annotations

from pathlib import Path

from accord.core import ConfigError
from accord.models.extractors._base import FeatureExtractor
from accord.models.extractors._histomorphometry import HistomorphometryExtractor
from accord.models.extractors._onnx import OnnxExtractor
from accord.models.extractors._torchscript import TorchScriptExtractor

__all__ = ["EXTRACTORS", "build_extractor"]

EXTRACTORS: dict[str, type[FeatureExtractor]] = {
    "histomorphometry": HistomorphometryExtractor,
    "torchscript": TorchScriptExtractor,
    "onnx": OnnxExtractor,
}
_NEEDS_FILE = frozenset({"torchscript", "onnx"})


def build_extractor(kind: str, path: Path | None = None, mpp: float = 0.5) -> FeatureExtractor:
    """The extractor ``kind`` names; ``path`` is its model file (torchscript, onnx).

    ``mpp`` is the tiles' µm per pixel, used by ``histomorphometry``. Raises ConfigError
    for an unknown kind or a model kind without a path.
    """
    if kind not in EXTRACTORS:
        raise ConfigError(
            f"extractor kind: unknown {kind!r}; expected one of {', '.join(sorted(EXTRACTORS))}"
        )
    if kind in _NEEDS_FILE:
        if path is None:
            raise ConfigError(f"extractor {kind!r}: needs the path of a model file")
        model = TorchScriptExtractor if kind == "torchscript" else OnnxExtractor
        return model(Path(path))
    return HistomorphometryExtractor(mpp=mpp)
