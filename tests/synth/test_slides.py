from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from accord.core import ConfigError
from accord.synth import PATTERNS, SyntheticSlide, write_slide
from tests.synth.conftest import PLANTED, block_any, block_mean, optical_density, read_level


def test_the_file_is_a_tiled_pyramid_with_the_requested_tile(planted_slide: SyntheticSlide) -> None:
    with tifffile.TiffFile(planted_slide.path) as tif:
        assert tif.is_ome
        levels = tif.series[0].levels
        assert len(levels) == 3
        assert [lv.shape for lv in levels] == [(1024, 1280, 3), (512, 640, 3), (256, 320, 3)]
        for level in levels:
            page = level.keyframe
            assert page.is_tiled and (page.tilelength, page.tilewidth) == (128, 128)
            assert page.compression == tifffile.COMPRESSION.JPEG


def test_levels_are_downsampled_copies_of_level_0(planted_slide: SyntheticSlide) -> None:
    level0 = read_level(planted_slide.path, 0).astype(np.float64)
    level1 = read_level(planted_slide.path, 1).astype(np.float64)
    halved = block_mean(level0, 2)
    # JPEG noise dominates single pixels; 8 x 8 means compare the content.
    assert np.abs(block_mean(halved, 8) - block_mean(level1, 8)).mean() < 1.0


def test_mpp_is_recoverable_from_tiff_tags_and_ome(tmp_path: Path) -> None:
    slide = write_slide(tmp_path / "s.ome.tif", width=300, height=200, mpp=0.25, seed=1)
    with tifffile.TiffFile(slide.path) as tif:
        page = tif.pages[0]
        assert page.tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER
        numerator, denominator = page.tags["XResolution"].value
        assert 1e4 / (numerator / denominator) == pytest.approx(0.25)
        numerator, denominator = page.tags["YResolution"].value
        assert 1e4 / (numerator / denominator) == pytest.approx(0.25)
        ome = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert ome["PhysicalSizeX"] == pytest.approx(0.25)
        assert ome["PhysicalSizeY"] == pytest.approx(0.25)
        assert ome["PhysicalSizeXUnit"] == "µm"
    assert slide.mpp == 0.25


def test_openslide_reads_level_0_and_mpp(planted_slide: SyntheticSlide) -> None:
    openslide = pytest.importorskip("openslide")
    with openslide.OpenSlide(str(planted_slide.path)) as osr:
        assert osr.dimensions == (1280, 1024)
        assert osr.level_count == 1  # SubIFD levels are invisible to OpenSlide
        assert float(osr.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.5)


def test_same_seed_same_bytes_and_masks(tmp_path: Path) -> None:
    kwargs = {"width": 600, "height": 500, "seed": 11, "patterns": {"vetc": 0.3}}
    a = write_slide(tmp_path / "a.ome.tif", pen_marks=True, **kwargs)  # type: ignore[arg-type]
    b = write_slide(tmp_path / "b.ome.tif", pen_marks=True, **kwargs)  # type: ignore[arg-type]
    assert a.path.read_bytes() == b.path.read_bytes()
    assert (a.tissue_mask == b.tissue_mask).all()
    assert all((a.pattern_masks[k] == b.pattern_masks[k]).all() for k in PATTERNS)
    c = write_slide(tmp_path / "c.ome.tif", width=600, height=500, seed=12)
    assert (c.tissue_mask != a.tissue_mask).any()


def test_ground_truth_masks_have_the_documented_shape(planted_slide: SyntheticSlide) -> None:
    d = planted_slide.mask_downsample
    shape = (-(-1024 // d), -(-1280 // d))
    assert planted_slide.tissue_mask.shape == shape and planted_slide.tissue_mask.dtype == bool
    assert set(planted_slide.pattern_masks) == set(PATTERNS)
    for mask in planted_slide.pattern_masks.values():
        assert mask.shape == shape
        assert not (mask & ~planted_slide.tissue_mask).any()


def test_tissue_covers_20_to_80_percent(planted_slide: SyntheticSlide) -> None:
    assert 0.2 <= planted_slide.tissue_mask.mean() <= 0.8


def test_tissue_mask_matches_the_painted_pixels(planted_slide: SyntheticSlide) -> None:
    level = read_level(planted_slide.path, 0)
    d = planted_slide.mask_downsample
    od = block_mean(optical_density(level)[: 1024 // d * d, : 1280 // d * d], d).sum(axis=-1)
    mask = planted_slide.tissue_mask[: od.shape[0], : od.shape[1]]
    pen = planted_slide.pen_mask[: od.shape[0], : od.shape[1]]
    assert od[mask].mean() > 0.5
    assert np.median(od[~mask & ~pen]) < 0.1


def test_pattern_fractions_follow_the_request(planted_slide: SyntheticSlide) -> None:
    fractions = planted_slide.pattern_fractions()
    for name, wanted in PLANTED.items():
        assert fractions[name] == pytest.approx(wanted, abs=0.01)


def test_patterns_look_different_from_each_other(planted_slide: SyntheticSlide) -> None:
    level = read_level(planted_slide.path, 0)
    d = planted_slide.mask_downsample
    od = block_mean(optical_density(level), d)
    gt = {k: m[: od.shape[0], : od.shape[1]] for k, m in planted_slide.pattern_masks.items()}
    # Red-channel OD tracks haematoxylin: lymphocyte infiltrates are the darkest.
    red = {k: od[..., 0][m].mean() for k, m in gt.items()}
    assert red["immune"] > red["macrotrabecular"] + 0.1
    assert red["immune"] > red["vetc"] + 0.1


def test_pen_marks_lie_outside_the_tissue(tmp_path: Path) -> None:
    kwargs = {"width": 1024, "height": 768, "seed": 5, "compression": "none", "tile": 128}
    inked = write_slide(tmp_path / "pen.ome.tif", pen_marks=True, **kwargs)  # type: ignore[arg-type]
    clean = write_slide(tmp_path / "clean.ome.tif", pen_marks=False, **kwargs)  # type: ignore[arg-type]
    assert (inked.tissue_mask == clean.tissue_mask).all()
    assert inked.pen_mask.any() and not clean.pen_mask.any()
    assert not (inked.pen_mask & inked.tissue_mask).any()
    ink = (read_level(inked.path) != read_level(clean.path)).any(axis=-1)
    assert ink.mean() > 0.001
    assert not (block_any(ink, inked.mask_downsample) & inked.tissue_mask).any()


def test_profiles_give_different_colours_and_a_profile_is_stable(tmp_path: Path) -> None:
    def mean_od(profile: str, seed: int) -> np.ndarray:
        slide = write_slide(
            tmp_path / f"{profile}-{seed}.ome.tif",
            width=512,
            height=512,
            seed=seed,
            profile=profile,
            levels=2,
        )
        d = slide.mask_downsample
        od = block_mean(optical_density(read_level(slide.path)), d)
        result: np.ndarray = od[slide.tissue_mask].mean(axis=0)
        return result

    profiles = ["hospital_a", "hospital_b", "hospital_c", "hospital_d"]
    means = {p: mean_od(p, 1) for p in profiles}
    for i, a in enumerate(profiles):
        for b in profiles[i + 1 :]:
            assert np.abs(means[a] - means[b]).max() > 0.08, (a, b, means[a], means[b])
    same = np.abs(mean_od("hospital_a", 2) - means["hospital_a"]).max()
    assert same < 0.05


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"profile": "hospital_z"}, "unknown stain profile"),
        ({"patterns": {"solid": 0.1}}, "unknown name"),
        ({"patterns": {"vetc": 0.7, "immune": 0.5}}, "sum to at most 1"),
        ({"tile": 100}, "multiple of 16"),
        ({"levels": 0}, "levels"),
        ({"compression": "webp"}, "compression"),
        ({"mpp": 0.0}, "mpp"),
    ],
)
def test_bad_arguments_are_config_errors(tmp_path: Path, kwargs: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=match):
        write_slide(tmp_path / "x.ome.tif", width=64, height=64, seed=0, **kwargs)
