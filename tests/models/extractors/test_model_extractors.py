"""TorchScript and ONNX extractors: agreement, batching, identity, preprocessing, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from accord.core import ConfigError, DataError
from accord.models.extractors import (
    EXTRACTORS,
    HistomorphometryExtractor,
    OnnxExtractor,
    Preprocessing,
    TorchScriptExtractor,
    build_extractor,
    load_preprocessing,
    preprocess,
)
from tests.models.extractors.conftest import (
    PREPROCESSING,
    Models,
    save_onnx,
    save_torchscript,
    tiny_cnn,
    write_sidecar,
)

KINDS = [TorchScriptExtractor, OnnxExtractor]

# the fixtures build models with torch.jit.script and the TorchScript-based ONNX exporter,
# both deprecated upstream (torch >= 2.9) yet still the way to write these two formats
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def copy_model(path: Path, folder: Path) -> Path:
    """A copy of a model file and its sidecar in ``folder``."""
    for source in (path, path.with_name(f"{path.stem}.preprocessing.json")):
        shutil.copy(source, folder / source.name)
    return folder / path.name


def test_torchscript_and_onnx_give_the_same_embeddings(models: Models, tiles) -> None:
    ts, ox = TorchScriptExtractor(models.torchscript), OnnxExtractor(models.onnx)
    assert ts.dim == ox.dim == 16
    a, b = ts.embed(tiles), ox.embed(tiles)
    assert a.shape == (7, 16) and a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_embeddings_equal_the_module_on_hand_preprocessed_tiles(models: Models, tiles) -> None:
    size, mean, std = 48, np.array(PREPROCESSING["mean"]), np.array(PREPROCESSING["std"])
    resized = [np.asarray(Image.fromarray(t).resize((size, size), Image.BILINEAR)) for t in tiles]
    x = ((np.stack(resized) / 255.0 - mean) / std).transpose(0, 3, 1, 2).astype(np.float32)
    with torch.no_grad():
        expected = models.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(
        TorchScriptExtractor(models.torchscript).embed(tiles), expected, atol=1e-5
    )


@pytest.mark.parametrize("kind", KINDS)
def test_batch_size_does_not_change_embeddings(models: Models, tiles, kind) -> None:
    path = models.torchscript if kind is TorchScriptExtractor else models.onnx
    runs = [kind(path, batch_size=b, threads=1).embed(tiles) for b in (1, 3, 32)]
    for run in runs[1:]:
        np.testing.assert_allclose(run, runs[0], atol=1e-5)


def test_onnx_with_a_fixed_batch_runs_in_padded_chunks(models: Models, tiles, tmp_path) -> None:
    fixed = OnnxExtractor(save_onnx(models.module, tmp_path / "fixed.onnx", fixed_batch=2))
    assert fixed.batch_size == 2
    np.testing.assert_allclose(
        fixed.embed(tiles), OnnxExtractor(models.onnx).embed(tiles), atol=1e-5
    )


@pytest.mark.parametrize("kind", KINDS)
def test_no_tiles_give_an_empty_matrix(models: Models, kind) -> None:
    path = models.torchscript if kind is TorchScriptExtractor else models.onnx
    out = kind(path).embed(np.zeros((0, 64, 64, 3), np.uint8))
    assert out.shape == (0, 16) and out.dtype == np.float32


def test_threads_are_restored_after_embedding(models: Models, tiles) -> None:
    before = torch.get_num_threads()
    TorchScriptExtractor(models.torchscript, threads=1).embed(tiles)
    assert torch.get_num_threads() == before


# --- identity -----------------------------------------------------------------------------


def test_identity_is_stable_and_tracks_weights_and_preprocessing(models: Models, tmp_path) -> None:
    ts = TorchScriptExtractor(models.torchscript)
    assert (
        ts.identity() == TorchScriptExtractor(copy_model(models.torchscript, tmp_path)).identity()
    )
    assert len(ts.identity()) == 64 and ts.identity() != OnnxExtractor(models.onnx).identity()
    other_weights = save_torchscript(tiny_cnn(seed=1), tmp_path / "other.pt")
    assert TorchScriptExtractor(other_weights).identity() != ts.identity()
    folder = tmp_path / "prep"
    folder.mkdir()
    moved = copy_model(models.torchscript, folder)
    write_sidecar(moved, {**PREPROCESSING, "mean": [0.5, 0.5, 0.5]})
    assert TorchScriptExtractor(moved).identity() != ts.identity()


def test_onnx_identity_tracks_preprocessing(models: Models, tmp_path) -> None:
    moved = copy_model(models.onnx, tmp_path)
    before = OnnxExtractor(moved).identity()
    write_sidecar(moved, {**PREPROCESSING, "std": [0.2, 0.2, 0.2]})
    after = OnnxExtractor(moved)
    assert after.identity() != before and after.preprocessing.std == (0.2, 0.2, 0.2)


def test_input_size_the_onnx_graph_cannot_take_fails_at_load(models: Models, tmp_path) -> None:
    moved = copy_model(models.onnx, tmp_path)
    write_sidecar(moved, {**PREPROCESSING, "input_size": 32})  # graph was exported at 48 px
    with pytest.raises(ConfigError, match=r"tiny\.onnx: inference failed on a \(1, 3, 32, 32\)"):
        OnnxExtractor(moved)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "suffix"), [(TorchScriptExtractor, ".pt"), (OnnxExtractor, ".onnx")]
)
def test_corrupt_or_missing_model_file_is_named(kind, suffix, tmp_path) -> None:
    corrupt = tmp_path / f"broken{suffix}"
    corrupt.write_bytes(b"\x00not a model at all" * 20)
    write_sidecar(corrupt)
    with pytest.raises(ConfigError, match=rf"broken\{suffix}: not an? \w+ model"):
        kind(corrupt)
    with pytest.raises(ConfigError, match=rf"absent\{suffix}: \w+ model file not found"):
        kind(tmp_path / f"absent{suffix}")
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match=rf"empty\{suffix}: \w+ model file is empty"):
        kind(empty)


def test_missing_sidecar_is_named(models: Models, tmp_path) -> None:
    shutil.copy(models.torchscript, tmp_path / "bare.pt")
    with pytest.raises(
        ConfigError, match=r"bare\.preprocessing\.json: preprocessing sidecar not found"
    ):
        TorchScriptExtractor(tmp_path / "bare.pt")


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"mean": [0, 0, 0], "std": [1, 1, 1]}, "input_size"),
        ({**PREPROCESSING, "input_size": "224"}, "input_size"),
        ({**PREPROCESSING, "mean": [0.5, 0.5]}, "mean"),
        ({**PREPROCESSING, "std": [1, True, 1]}, "std"),
        ({**PREPROCESSING, "std": [1, 0, 1]}, "std"),
    ],
)
def test_malformed_sidecar_names_file_and_field(tmp_path, content, field) -> None:
    sidecar = tmp_path / "m.preprocessing.json"
    sidecar.write_text(json.dumps(content))
    with pytest.raises(ConfigError, match=rf"m\.preprocessing\.json: .*'?{field}'?"):
        load_preprocessing(tmp_path / "m.pt")


def test_unreadable_sidecar_json_is_named(tmp_path) -> None:
    (tmp_path / "m.preprocessing.json").write_text("{input_size: 224")
    with pytest.raises(ConfigError, match=r"m\.preprocessing\.json: not readable JSON"):
        load_preprocessing(tmp_path / "m.preprocessing.json")


def test_wrong_input_channels_fail_at_load_naming_the_file(tmp_path) -> None:
    module = torch.nn.Conv2d(1, 4, 3)  # expects one channel, gets RGB
    path = save_torchscript(module, tmp_path / "grey.pt")
    with pytest.raises(ConfigError, match=r"grey\.pt: forward pass failed"):
        TorchScriptExtractor(path)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_tiles_and_settings_are_rejected(models: Models, kind) -> None:
    path = models.torchscript if kind is TorchScriptExtractor else models.onnx
    with pytest.raises(DataError, match=r"tiles: expected uint8 array of shape \(n, h, w, 3\)"):
        kind(path).embed(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ConfigError, match="batch_size"):
        kind(path, batch_size=0)
    with pytest.raises(ConfigError, match="threads"):
        kind(path, threads=0)


def test_preprocess_layout_and_values() -> None:
    prep = Preprocessing(input_size=4, mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 0.5))
    tiles = np.zeros((2, 4, 4, 3), np.uint8)
    tiles[..., 1] = 255
    x = preprocess(tiles, prep)
    assert x.shape == (2, 3, 4, 4) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(x[:, 0], -1.0)
    np.testing.assert_allclose(x[:, 1], 2.0)


# --- registry -----------------------------------------------------------------------------


def test_registry_builds_every_kind(models: Models) -> None:
    assert set(EXTRACTORS) == {"histomorphometry", "torchscript", "onnx"}
    assert isinstance(build_extractor("torchscript", models.torchscript), TorchScriptExtractor)
    assert isinstance(build_extractor("onnx", models.onnx), OnnxExtractor)
    histo = build_extractor("histomorphometry", mpp=0.25)
    assert isinstance(histo, HistomorphometryExtractor) and histo.mpp == 0.25


def test_registry_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown 'resnet'; expected one of histomorphometry"):
        build_extractor("resnet")
    with pytest.raises(ConfigError, match="'onnx': needs the path of a model file"):
        build_extractor("onnx")
