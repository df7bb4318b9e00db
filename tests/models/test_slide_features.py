"""Slides → tile features → cache: reruns skip finished slides, bad slides are reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accord.models import extract_features
from accord.models.extractors import build_extractor
from accord.synth import write_slide
from accord.wsi import FeatureCache, SlideFeatures, TilingParams, slide_hash


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("slides")
    return [
        write_slide(folder / f"s{i}.ome.tif", width=1536, height=1536, seed=i).path
        for i in range(2)
    ]


def test_extracts_caches_and_skips(slides: list[Path], tmp_path: Path) -> None:
    fx = build_extractor("histomorphometry", None, mpp=0.5)
    tiling = TilingParams(mpp=0.5, tile_px=128)
    cache = FeatureCache(tmp_path / "cache")
    first, report = extract_features(slides, fx, tiling, cache)
    assert report.done == slides and not report.failed and report.tiles > 10
    for features in first.values():
        assert features.features.shape == (features.n_tiles, fx.dim)
        assert np.isfinite(features.features).all()
        assert (features.coords >= 0).all() and (features.coords + features.tile_size <= 1536).all()
    again, second = extract_features(slides, fx, tiling, cache)
    assert second.cached == slides and not second.done
    for path in slides:
        np.testing.assert_array_equal(again[path].features, first[path].features)
    other = TilingParams(mpp=1.0, tile_px=128)
    _, third = extract_features(slides[:1], fx, other, cache)
    assert third.done == slides[:1]  # tiling parameters are part of the key


def test_a_bad_slide_is_reported_and_the_batch_goes_on(slides: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.svs"
    broken.write_bytes(b"not a slide at all")
    fx = build_extractor("histomorphometry", None)
    results, report = extract_features(
        [broken, slides[0]], fx, TilingParams(tile_px=128), FeatureCache(tmp_path / "c")
    )
    assert list(results) == [slides[0]]
    assert "broken.svs" in report.failed[broken]


def test_cache_entries_are_written_atomically(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    features = SlideFeatures(
        np.zeros((2, 2), np.int64), 224, np.ones((2, 3), np.float32), np.ones(2, np.float32)
    )
    path = cache.put("a" * 64, "b" * 64, TilingParams(), features)
    assert path.exists() and not list(tmp_path.glob("*.tmp"))
    loaded = cache.get("a" * 64, "b" * 64, TilingParams())
    assert loaded is not None and loaded.tile_size == 224 and loaded.n_tiles == 2


def test_slide_hash_streams_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc" * 1_000_000)
    import hashlib

    assert slide_hash(path) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


def test_a_process_pool_gives_the_serial_features(
    slides: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import accord.models._slide_features as module

    fx = build_extractor("histomorphometry", None, mpp=0.5)
    tiling = TilingParams(mpp=0.5, tile_px=128)
    batch = [*slides, tmp_path / "missing.svs", *slides]  # a failure mid-batch, repeats
    monkeypatch.setattr(module, "_POOL_MIN_SLIDES", 10**6)
    serial, serial_report = extract_features(batch, fx, tiling, FeatureCache(tmp_path / "a"))
    monkeypatch.setattr(module, "_POOL_MIN_SLIDES", 2)
    monkeypatch.setattr(module.os, "cpu_count", lambda: 2)
    seen: list[int] = []
    pooled, report = extract_features(
        batch, fx, tiling, FeatureCache(tmp_path / "b"), progress=lambda _, i, n: seen.append(i)
    )
    assert list(pooled) == list(serial) == slides
    assert set(report.failed) == set(serial_report.failed) == {tmp_path / "missing.svs"}
    assert seen == sorted(seen) and seen[-1] == len(batch)
    for path in slides:
        np.testing.assert_array_equal(pooled[path].features, serial[path].features)
