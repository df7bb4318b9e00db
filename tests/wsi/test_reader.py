"""Slide readers: pixels against the painted truth, metadata, mpp reads, thumbnails, errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from accord.core import SlideReadError
from accord.wsi import SlideReader, open_slide
from accord.wsi import _reader as reader_module
from tests.wsi.pyramid import (
    HEIGHT,
    MPP,
    WIDTH,
    downsample_mean,
    paint_slide,
    pyramid,
    write_pyramid,
)

IMAGE = paint_slide()
LEVELS = pyramid(IMAGE)


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pyramid(tmp_path_factory.mktemp("slide") / "painted.tif", IMAGE)


@pytest.fixture
def slide(slide_path: Path) -> SlideReader:
    with open_slide(slide_path) as reader:
        yield reader


def test_info_describes_the_pyramid(slide: SlideReader, slide_path: Path) -> None:
    info = slide.info
    assert (info.path, info.backend, info.vendor) == (slide_path, "tiff", "generic-tiff")
    assert (info.width, info.height, info.mpp) == (WIDTH, HEIGHT, pytest.approx(MPP))
    assert [(lv.width, lv.height, lv.downsample) for lv in info.levels] == [
        (1400, 1000, 1.0),
        (700, 500, 2.0),
        (350, 250, 4.0),
    ]


@pytest.mark.parametrize(
    ("x", "y", "w", "h"), [(0, 0, 64, 64), (100, 130, 400, 300), (1270, 870, 130, 130)]
)
def test_level0_region_is_the_painted_slice(slide: SlideReader, x: int, y: int, w: int, h: int):
    np.testing.assert_array_equal(slide.read_region(x, y, w, h), IMAGE[y : y + h, x : x + w])


@pytest.mark.parametrize("level", [1, 2])
def test_lower_level_region_is_the_downsampled_slice(slide: SlideReader, level: int) -> None:
    x, y, w, h = 256, 128, 120, 90
    ds = 2**level
    region = slide.read_region(x, y, w, h, level)
    np.testing.assert_array_equal(
        region, LEVELS[level][y // ds : y // ds + h, x // ds : x // ds + w]
    )
    truth = downsample_mean(IMAGE[y : y + h * ds, x : x + w * ds], ds).astype(int)
    assert np.abs(region.astype(int) - truth).max() <= 1  # only successive rounding


def test_reads_outside_the_slide_are_white(slide: SlideReader) -> None:
    region = slide.read_region(WIDTH - 50, -20, 100, 70)
    np.testing.assert_array_equal(region[20:, :50], IMAGE[:50, WIDTH - 50 :])
    assert (region[:20] == 255).all() and (region[:, 50:] == 255).all()
    assert (slide.read_region(5000, 5000, 10, 10, 2) == 255).all()
    assert slide.read_region(-400, 0, 8, 8, 2).shape == (8, 8, 3)


def test_region_reads_decode_only_the_tiles_they_need(
    slide: SlideReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    requested: list[int] = []
    original = tifffile.FileHandle.read_segments

    def spy(self, offsets, bytecounts, indices=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        requested.extend(indices or [])
        return original(self, offsets, bytecounts, indices, *args, **kwargs)

    monkeypatch.setattr(tifffile.FileHandle, "read_segments", spy)
    slide.read_region(10, 10, 20, 20)  # inside tile (0, 0) of 128 px: one of 11 x 8 tiles
    assert requested == [0]
    requested.clear()
    slide.read_region(120, 120, 20, 20)  # crosses the corner of four tiles
    assert sorted(requested) == [0, 1, 11, 12]
    requested.clear()
    slide.read_region(120, 120, 20, 20, level=1)  # level px 60-70: tile 0 of 6 x 4
    assert requested == [0]


def test_best_level_is_the_coarsest_fine_enough(slide: SlideReader) -> None:
    assert [slide.best_level(m) for m in (0.25, 0.5, 0.9, 1.0, 1.9, 2.0, 8.0)] == [
        0, 0, 0, 1, 1, 2, 2,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("mpp", "size"), [(0.25, 64), (0.5, 100), (0.75, 99), (1.0, 64), (3.0, 32)]
)
def test_read_mpp_returns_the_requested_size(slide: SlideReader, mpp: float, size: int) -> None:
    assert slide.read_mpp(300, 200, size, mpp).shape == (size, size, 3)


def test_read_mpp_at_native_and_level_mpp_is_exact(slide: SlideReader) -> None:
    np.testing.assert_array_equal(slide.read_mpp(300, 200, 64, MPP), IMAGE[200:264, 300:364])
    np.testing.assert_array_equal(
        slide.read_mpp(300, 200, 64, 2 * MPP), LEVELS[1][100:164, 150:214]
    )


def test_read_mpp_between_levels_matches_area_average(slide: SlideReader) -> None:
    tile = slide.read_mpp(400, 400, 60, 1.5 * MPP).astype(float)  # 90 level-0 px, from level 0
    patch = Image.fromarray(IMAGE[400:490, 400:490])
    truth = np.asarray(patch.resize((60, 60), Image.Resampling.BOX)).astype(float)
    assert np.abs(tile - truth).mean() < 10.0  # per-pixel noise is filtered differently
    coarse = downsample_mean(tile.astype(np.uint8), 10).astype(int)  # 6 x 6 blocks of 15 px
    assert np.abs(coarse - downsample_mean(IMAGE[400:490, 400:490], 15)).max() <= 3


def test_mpp_finer_than_half_the_slide_is_refused(slide: SlideReader, slide_path: Path) -> None:
    assert slide.read_mpp(0, 0, 32, 0.25).shape == (32, 32, 3)
    with pytest.raises(SlideReadError, match=r"painted\.tif: requested 0\.2 µm/px is finer"):
        slide.read_mpp(0, 0, 32, 0.2)
    with pytest.raises(SlideReadError, match="must be > 0"):
        slide.read_mpp(0, 0, 32, 0.0)


def test_thumbnail_fits_and_matches_the_coarse_level(slide: SlideReader) -> None:
    thumb = slide.thumbnail(350)
    np.testing.assert_array_equal(thumb, LEVELS[2])  # exactly level 2: no resampling
    small = slide.thumbnail(100)
    assert small.shape == (71, 100, 3)
    assert slide.thumbnail(5000).shape == (HEIGHT, WIDTH, 3)


def test_thumbnail_in_blocks_matches_one_piece(
    slide: SlideReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = slide.thumbnail(300).astype(int)
    monkeypatch.setattr(reader_module, "_THUMB_BLOCK_PX", 100)
    blocks = slide.thumbnail(300).astype(int)
    assert whole.shape == blocks.shape == (214, 300, 3)
    assert np.abs(whole - blocks).mean() < 1.0


def test_jpeg_slide_is_close_to_the_painting(tmp_path: Path) -> None:
    path = write_pyramid(tmp_path / "jpeg.tif", IMAGE, compression="jpeg")
    with open_slide(path) as reader:
        region = reader.read_region(400, 300, 300, 300)
    assert np.abs(region.astype(int) - IMAGE[300:600, 400:700]).mean() < 10.0
    coarse = downsample_mean(region, 10).astype(int)
    assert np.abs(coarse - downsample_mean(IMAGE[300:600, 400:700], 10)).max() <= 4


@pytest.mark.parametrize(
    "kwargs",
    [{"ome": True}, {"tile": None}, {"resolution_unit": "MICROMETER"}, {"resolution_unit": "INCH"}],
    ids=["ome", "strips", "micrometre-unit", "inch-unit"],
)
def test_layouts_and_resolution_units(tmp_path: Path, kwargs: dict[str, object]) -> None:
    path = write_pyramid(tmp_path / "variant.tif", IMAGE, **kwargs)  # type: ignore[arg-type]
    with open_slide(path) as reader:
        assert reader.info.mpp == pytest.approx(MPP)
        assert reader.info.vendor == ("ome" if kwargs.get("ome") else "generic-tiff")
        np.testing.assert_array_equal(reader.read_region(90, 70, 200, 150), IMAGE[70:220, 90:290])
        np.testing.assert_array_equal(
            reader.read_region(90, 70, 50, 40, 1), LEVELS[1][35:75, 45:95]
        )


def test_greyscale_slide_reads_as_rgb(tmp_path: Path) -> None:
    grey = IMAGE[..., 1].copy()
    path = write_pyramid(tmp_path / "grey.ome.tif", grey, ome=True)
    with open_slide(path) as reader:
        region = reader.read_region(10, 20, 30, 40)
    np.testing.assert_array_equal(region, np.repeat(grey[20:60, 10:40, None], 3, axis=2))


def test_missing_mpp_is_an_error_unless_given(tmp_path: Path) -> None:
    path = write_pyramid(tmp_path / "nompp.tif", IMAGE[:256, :256], mpp=None, levels=1)
    with pytest.raises(SlideReadError, match=r"nompp\.tif: no microns-per-pixel in the metadata"):
        open_slide(path)
    with open_slide(path, mpp=0.25) as reader:
        assert reader.info.mpp == 0.25


def test_metadata_mpp_wins_over_the_argument(slide_path: Path) -> None:
    with open_slide(slide_path, mpp=0.25) as reader:
        assert reader.info.mpp == pytest.approx(MPP)


def test_image_editor_72_dpi_is_not_an_mpp(tmp_path: Path) -> None:
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(path, IMAGE[:64, :64], resolution=(72, 72), resolutionunit="INCH")
    with pytest.raises(SlideReadError, match="no microns-per-pixel"):
        open_slide(path)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_bad_mpp_argument_is_refused(slide_path: Path, bad: float) -> None:
    with pytest.raises(SlideReadError, match=r"painted\.tif: the given mpp must be > 0"):
        open_slide(slide_path, mpp=bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SlideReadError, match=r"absent\.svs: slide file not found"):
        open_slide(tmp_path / "absent.svs")


@pytest.mark.parametrize("name", ["noise.tif", "noise.svs", "noise.ndpi"])
def test_random_bytes_are_refused_naming_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(SlideReadError, match="^" + re.escape(name) + ": ") as info:
        open_slide(path)
    assert "Traceback" not in str(info.value)


def test_truncated_file_is_refused_naming_the_file(tmp_path: Path, slide_path: Path) -> None:
    path = tmp_path / "cut.tif"
    path.write_bytes(slide_path.read_bytes()[: slide_path.stat().st_size // 2])
    with pytest.raises(SlideReadError, match=r"^cut\.tif: "), open_slide(path) as reader:
        for level, lv in enumerate(reader.info.levels):
            reader.read_region(0, 0, lv.width, lv.height, level)


def test_corrupt_tile_data_is_refused(tmp_path: Path, slide_path: Path) -> None:
    data = bytearray(slide_path.read_bytes())
    with tifffile.TiffFile(slide_path) as tif:
        offset = tif.pages.first.dataoffsets[5]
    data[offset : offset + 64] = bytes(64)
    path = tmp_path / "corrupt.tif"
    path.write_bytes(bytes(data))
    with open_slide(path) as reader, pytest.raises(SlideReadError, match=r"^corrupt\.tif: corrupt"):
        reader.read_region(0, 0, WIDTH, HEIGHT)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(b"\x89PNG")
    with pytest.raises(SlideReadError, match=r"picture\.png: unsupported slide format '\.png'"):
        open_slide(path)


def test_unknown_backend(slide_path: Path) -> None:
    with pytest.raises(SlideReadError, match="unknown slide backend 'zarr'"):
        open_slide(slide_path, backend="zarr")


def test_oversized_segments_are_refused(
    slide: SlideReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accord.wsi import _tiff_reader as tiff_reader

    monkeypatch.setattr(tiff_reader, "MAX_SEGMENT_BYTES", 128 * 128 * 3 - 1)
    with pytest.raises(SlideReadError, match=r"painted\.tif: strips or tiles too large"):
        slide.read_region(0, 0, 10, 10)


def test_concurrent_reads_match_serial_reads(slide: SlideReader) -> None:
    from concurrent.futures import ThreadPoolExecutor

    boxes = [(x, y, 150, 150) for x in range(0, 1200, 170) for y in range(0, 800, 190)]
    with ThreadPoolExecutor(8) as pool:
        images = list(pool.map(lambda b: slide.read_region(*b), boxes))
    for (x, y, w, h), image in zip(boxes, images, strict=True):
        np.testing.assert_array_equal(image, IMAGE[y : y + h, x : x + w])


def test_tiffs_fall_back_to_openslide(slide_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.wsi import _tiff_reader as tiff_reader

    def refuse(self: object, path: Path, mpp: float | None = None) -> None:
        raise SlideReadError(f"{path.name}: refused by tifffile")

    monkeypatch.setattr(tiff_reader.TiffReader, "__init__", refuse)
    with open_slide(slide_path) as reader:
        assert reader.info.backend == "openslide" and reader.info.mpp == pytest.approx(MPP)
        np.testing.assert_array_equal(reader.read_region(50, 60, 70, 80), IMAGE[60:140, 50:120])


def test_when_both_backends_fail_the_tifffile_reason_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "noise.tiff"
    path.write_bytes(b"II*\x00" + bytes(100))
    with pytest.raises(SlideReadError, match=r"^noise\.tiff: TIFF holds no image series"):
        open_slide(path)
