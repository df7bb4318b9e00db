"""Federated SimCLR: tiles stay at the sites, the averaged encoder exports as a backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accord.models.extractors import build_extractor
from accord.studies import PretrainSettings, federated_simclr, sample_tiles
from accord.synth import write_slide


def test_federated_pretraining_exports_a_usable_encoder(tmp_path: Path) -> None:
    settings = PretrainSettings(
        rounds=1, local_steps=2, batch_size=8, input_size=32, tile_px=64, tiles_per_site=16, dim=16
    )
    tiles = {}
    for i, profile in enumerate(("hospital_a", "hospital_b", "hospital_c")):
        slide = write_slide(
            tmp_path / f"s{i}.ome.tif", width=768, height=768, seed=i, profile=profile
        )
        tiles[f"site{i}"] = sample_tiles([slide.path], settings)
        assert tiles[f"site{i}"].shape[1:] == (64, 64, 3)
    path = federated_simclr(tiles, settings, tmp_path / "encoder.pt")
    assert path.with_suffix(".preprocessing.json").exists()
    fx = build_extractor("torchscript", path)
    features = fx.embed(tiles["site0"][:4])
    assert features.shape == (4, fx.dim) and np.isfinite(features).all()
