"""Export the pretrained encoder as a TorchScript backbone with its preprocessing sidecar.

The result loads like any hospital-supplied backbone: ``MODEL.pt`` (TorchScript, maps
(n, 3, S, S) float32 normalised tiles to (n, dim) float32) next to
``MODEL.preprocessing.json`` = ``{"input_size", "mean", "std"}``. The projection head is
not exported: SimCLR's representation is the encoder output before it.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import torch

from accord.core import ConfigError
from accord.models.ssl._augment import MEAN, STD
from accord.models.ssl._encoder import SimCLRModel

__all__ = ["export_encoder", "preprocessing_path"]


def preprocessing_path(path: Path) -> Path:
    """The sidecar next to a backbone file: ``MODEL.pt`` -> ``MODEL.preprocessing.json``."""
    return path.with_suffix(".preprocessing.json")


def export_encoder(model: SimCLRModel, path: Path, input_size: int) -> Path:
    """Write ``model.encoder`` to ``path`` (TorchScript) and its sidecar; return ``path``.

    Both files are written to a temporary name and renamed into place, so a reader never
    sees a half-written backbone. The sidecar goes first: a backbone file that exists
    always has its preprocessing next to it.
    """
    if input_size < 8:
        raise ConfigError(f"export_encoder: input_size must be >= 8 pixels, got {input_size}")
    path = Path(path)
    encoder = copy.deepcopy(model.encoder).eval()
    with warnings.catch_warnings():
        # TorchScript is deprecated upstream but is still the backbone format accord loads.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(encoder)
    sidecar = {"input_size": input_size, "mean": list(MEAN), "std": list(STD)}
    _write_atomic(preprocessing_path(path), json.dumps(sidecar, indent=2).encode() + b"\n")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(scripted, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
