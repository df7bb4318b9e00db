from pathlib import Path

from typer.testing import CliRunner

from accord.cli import app

runner = CliRunner(env={"COLUMNS": "200"})


def test_synth_slides_then_info(tmp_path: Path) -> None:
    out = tmp_path / "slides"
    made = runner.invoke(
        app, ["synth", "slides", str(out), "--n", "1", "--size", "1024", "--pattern", "vetc=0.2"]
    )
    assert made.exit_code == 0, made.output
    assert "planted {'vetc': 0.2}" in made.output
    info = runner.invoke(app, ["wsi", "info", str(out / "slide_0000.ome.tif")])
    assert info.exit_code == 0


def test_bad_pattern_is_a_config_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "slides", str(tmp_path), "--pattern", "vetc"])
    assert result.exit_code == 2 and "NAME=FRACTION" in result.output
