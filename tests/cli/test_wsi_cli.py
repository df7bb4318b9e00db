from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from accord.cli import app
from accord.core import SlideReadError
from accord.synth import write_slide

runner = CliRunner(env={"COLUMNS": "200"})


def test_info_qc_extract(tmp_path: Path) -> None:
    slide = write_slide(tmp_path / "s.ome.tif", width=1024, height=1024, seed=3).path
    info = runner.invoke(app, ["wsi", "info", str(slide)])
    assert info.exit_code == 0 and "0.5000 µm/px" in info.output
    qc = runner.invoke(
        app, ["wsi", "qc", str(slide), "--out", str(tmp_path / "qc.png"), "--tile", "128"]
    )
    assert qc.exit_code == 0 and (tmp_path / "qc.png").exists()
    bad = tmp_path / "bad.svs"
    bad.write_bytes(b"\x00" * 100)
    out = runner.invoke(
        app,
        ["wsi", "extract", str(slide), str(bad), "--out", str(tmp_path / "cache"), "--tile", "128"],
    )
    assert out.exit_code == SlideReadError.exit_code
    assert "1 slides extracted" in out.output and "bad.svs" in out.output
    again = runner.invoke(
        app, ["wsi", "extract", str(slide), "--out", str(tmp_path / "cache"), "--tile", "128"]
    )
    assert again.exit_code == 0 and "1 from the cache" in again.output


def test_a_slide_without_mpp_needs_slide_mpp(tmp_path: Path) -> None:
    import numpy as np
    import tifffile

    path = tmp_path / "nompp.tif"
    tifffile.imwrite(path, np.full((256, 256, 3), 200, np.uint8), photometric="rgb")
    result = runner.invoke(app, ["wsi", "info", str(path)])
    assert result.exit_code == SlideReadError.exit_code and "microns-per-pixel" in result.output
    ok = runner.invoke(app, ["wsi", "info", str(path), "--slide-mpp", "0.5"])
    assert ok.exit_code == 0
