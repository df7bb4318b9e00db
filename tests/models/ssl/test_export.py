from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from accord.core import ConfigError
from accord.models.ssl import (
    MEAN,
    STD,
    build_simclr,
    export_encoder,
    preprocessing_path,
    simclr_views,
)

if TYPE_CHECKING:
    from tests.models.ssl.conftest import TrainedRun


def _load(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path))  # type: ignore[no-untyped-call,no-any-return]


def test_exported_encoder_matches_the_eager_encoder(
    trained_run: TrainedRun, tmp_path: Path
) -> None:
    path = export_encoder(trained_run.trained, tmp_path / "ssl_backbone.pt", input_size=64)
    assert path == tmp_path / "ssl_backbone.pt"
    loaded = _load(path)
    views = simclr_views(trained_run.tiles[:5], np.random.default_rng(0), 64)[0]
    with torch.no_grad():
        eager = trained_run.trained.encoder(views)
        torch.testing.assert_close(loaded(views), eager, rtol=1e-5, atol=1e-6)
        assert loaded(views).shape == (5, 128)  # the representation, not the projection
        assert loaded(views[:1]).shape == (1, 128)  # any batch size
        assert loaded(torch.zeros(2, 3, 96, 96)).shape == (2, 128)  # any tile size
    names = {name for name, _ in loaded.named_parameters()}
    assert names == {name for name, _ in trained_run.trained.encoder.named_parameters()}


def test_preprocessing_sidecar_is_written(tmp_path: Path) -> None:
    path = export_encoder(build_simclr(dim=16, width=8), tmp_path / "MODEL.pt", input_size=96)
    sidecar = tmp_path / "MODEL.preprocessing.json"
    assert preprocessing_path(path) == sidecar
    assert json.loads(sidecar.read_text()) == {
        "input_size": 96,
        "mean": list(MEAN),
        "std": list(STD),
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MODEL.preprocessing.json", "MODEL.pt"]


def test_export_replaces_an_existing_backbone(tmp_path: Path) -> None:
    path = tmp_path / "MODEL.pt"
    first, second = build_simclr(dim=16, width=8, seed=0), build_simclr(dim=16, width=8, seed=1)
    export_encoder(first, path, input_size=32)
    export_encoder(second, path, input_size=48)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(_load(path)(x), second.encoder(x))
    assert json.loads(preprocessing_path(path).read_text())["input_size"] == 48
    assert len(list(tmp_path.iterdir())) == 2  # no temporary files left behind


def test_export_does_not_change_the_model(tmp_path: Path) -> None:
    model = build_simclr(dim=16, width=8)
    model.train()
    export_encoder(model, tmp_path / "m.pt", input_size=32)
    assert model.training and model.encoder.training


def test_rejects_tiny_input_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="input_size must be >= 8"):
        export_encoder(build_simclr(dim=8, width=8), tmp_path / "m.pt", input_size=4)
    assert list(tmp_path.iterdir()) == []


def test_torchscript_extractor_loads_the_export(trained_run: TrainedRun, tmp_path: Path) -> None:
    extractors = pytest.importorskip("accord.models.extractors._torchscript")
    base = pytest.importorskip("accord.models.extractors._base")
    path = export_encoder(trained_run.trained, tmp_path / "consortium_ssl.pt", input_size=64)
    extractor = extractors.TorchScriptExtractor(path, batch_size=7)
    tiles = trained_run.tiles[:10]
    embeddings = extractor.embed(tiles)
    assert extractor.dim == 128
    assert embeddings.shape == (10, 128) and embeddings.dtype == np.float32
    batch = torch.from_numpy(base.preprocess(tiles, extractor.preprocessing))
    with torch.no_grad():
        expected = trained_run.trained.encoder(batch).numpy()
    np.testing.assert_allclose(embeddings, expected, rtol=1e-5, atol=1e-5)
