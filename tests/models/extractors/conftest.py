"""Tiny CNNs built and saved here (TorchScript and ONNX, with sidecars): nothing is downloaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

PREPROCESSING = {"input_size": 48, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


class TinyCNN(nn.Module):
    """(n, 3, s, s) -> (n, 16): two strided convolutions and global average pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.body(x), 1)


def tiny_cnn(seed: int = 0) -> TinyCNN:
    torch.manual_seed(seed)
    return TinyCNN().eval()


def write_sidecar(model_path: Path, preprocessing: dict | None = None) -> Path:
    sidecar = model_path.with_name(f"{model_path.stem}.preprocessing.json")
    sidecar.write_text(json.dumps(preprocessing or PREPROCESSING))
    return sidecar


def save_torchscript(module: nn.Module, path: Path, preprocessing: dict | None = None) -> Path:
    torch.jit.script(module).save(str(path))
    write_sidecar(path, preprocessing)
    return path


def save_onnx(
    module: nn.Module, path: Path, preprocessing: dict | None = None, fixed_batch: int = 0
) -> Path:
    size = (preprocessing or PREPROCESSING)["input_size"]
    example = torch.zeros(fixed_batch or 1, 3, size, size)
    axes = None if fixed_batch else {"input": {0: "n"}, "embedding": {0: "n"}}
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=["input"],
        output_names=["embedding"],
        dynamic_axes=axes,
        dynamo=False,
    )
    write_sidecar(path, preprocessing)
    return path


@dataclass(frozen=True)
class Models:
    module: TinyCNN
    torchscript: Path
    onnx: Path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    folder = tmp_path_factory.mktemp("models")
    module = tiny_cnn()
    return Models(
        module=module,
        torchscript=save_torchscript(module, folder / "tiny.pt"),
        onnx=save_onnx(module, folder / "tiny.onnx"),
    )


@pytest.fixture(scope="session")
def tiles() -> np.ndarray:
    """Seven 64 px RGB tiles (not the model's 48 px input: resizing is exercised)."""
    return np.random.default_rng(0).integers(0, 256, size=(7, 64, 64, 3), dtype=np.uint8)
