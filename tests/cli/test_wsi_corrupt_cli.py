"""``accord wsi info`` on broken slides: one line naming the file and the problem, exit 12.

A truncated copy is the common case (an interrupted transfer): tifffile reads what IFDs it
can and carries on, so before the structure check a half slide passed ``info``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from accord.cli import app
from accord.core import SlideReadError
from accord.synth import write_slide
from accord.wsi import open_slide

runner = CliRunner(env={"COLUMNS": "200"})
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


def _plain_tiled(path: Path) -> Path:
    """A flat, tiled RGB TIFF with mpp 0.5 (16 tiles of 128 px, zlib)."""
    image = np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    tifffile.imwrite(
        path,
        image,
        tile=(128, 128),
        photometric="rgb",
        compression="zlib",
        resolution=(20_000, 20_000),
        resolutionunit="CENTIMETER",
    )
    return path


def _cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    out = path.with_name(f"cut{int(fraction * 1000)}-{path.name}")
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("slides")
    pyramid = write_slide(folder / "s.ome.tif", width=1024, height=1024, seed=3).path
    plain = _plain_tiled(folder / "plain.tif")
    (folder / "png.tif").write_bytes(PNG)
    (folder / "empty.tif").write_bytes(b"")
    return {
        "pyramid": pyramid,
        "plain": plain,
        "pyramid cut in half": _cut(pyramid, 0.5),
        "pyramid cut at 90%": _cut(pyramid, 0.9),
        "plain cut in half": _cut(plain, 0.5),
        "plain missing its last byte": _cut(plain, 1 - 1 / len(plain.read_bytes())),
        "png renamed .tif": folder / "png.tif",
        "empty": folder / "empty.tif",
    }


BROKEN = {
    "pyramid cut in half": "corrupt or truncated TIFF",
    "pyramid cut at 90%": "corrupt or truncated TIFF",
    "plain cut in half": "truncated TIFF: 9 of 16 tiles or strips of level 0 end past the end",
    "plain missing its last byte": "truncated TIFF: 1 of 16 tiles",
    "png renamed .tif": "not a readable TIFF",
    "empty": "not a readable TIFF",
}


@pytest.mark.parametrize("name", ["pyramid", "plain"])
def test_intact_slides_pass_info(slides: dict[str, Path], name: str) -> None:
    result = runner.invoke(app, ["wsi", "info", str(slides[name])])
    assert result.exit_code == 0, result.output
    assert "0.5000 µm/px" in result.output


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_slide_is_one_line_naming_file_and_problem(
    slides: dict[str, Path], name: str
) -> None:
    path = slides[name]
    result = runner.invoke(app, ["wsi", "info", str(path)])
    assert result.exit_code == SlideReadError.exit_code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # tifffile's own log lines kept off the terminal
    assert path.name in lines[0] and BROKEN[name] in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", ["pyramid cut in half", "plain cut in half"])
def test_a_truncated_tiff_is_refused_by_the_reader_itself(
    slides: dict[str, Path], name: str
) -> None:
    with pytest.raises(SlideReadError, match="truncated"):
        open_slide(slides[name])
