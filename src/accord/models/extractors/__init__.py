"""Tile feature extractors: ``(n, h, w, 3)`` uint8 tiles -> ``(n, dim)`` float32 embeddings.

``histomorphometry`` needs no weights (the offline default); ``torchscript`` and ``onnx``
run a model file that a site already holds, beside its preprocessing sidecar JSON.
"""

from accord.models.extractors._base import (
    FeatureExtractor,
    Preprocessing,
    load_preprocessing,
    preprocess,
    preprocessing_path,
)
from accord.models.extractors._histomorphometry import FEATURE_NAMES, HistomorphometryExtractor
from accord.models.extractors._onnx import OnnxExtractor
from accord.models.extractors._registry import EXTRACTORS, build_extractor
from accord.models.extractors._torchscript import TorchScriptExtractor

__all__ = [
    "EXTRACTORS",
    "FEATURE_NAMES",
    "FeatureExtractor",
    "HistomorphometryExtractor",
    "OnnxExtractor",
    "Preprocessing",
    "TorchScriptExtractor",
    "build_extractor",
    "load_preprocessing",
    "preprocess",
    "preprocessing_path",
]
