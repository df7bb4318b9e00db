"""``accord run`` writes model files; ``accord predict`` applies one at a site.

The predictions of a site's own rows rank its test rows exactly as the site's evaluation
did: their Harrell C is the C the site reported, to 1e-12.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.core import ConfigError, DataError, load_study, sha256_hex
from accord.data import load_cohort
from accord.ledger import Entry, open_source
from accord.survival import concordance_counts
from tests.conftest import synthetic_cohort, write_study
from tests.docs.cli_commands import accord_lines, check_command

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
SEED = 7
SITE = "hospital_1"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("predict")
    data = folder / "data"
    data.mkdir()
    synthetic_cohort().to_csv(data / "cohort.csv", index=False)
    study = write_study(data, "fedavg", rounds=2, baselines='["pooled"]')
    out = folder / "out"
    args = ["run", str(study), "--data", str(data), "--out", str(out), "--seed", str(SEED)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(data / "cohort.csv", dtype={"pid": str})
    frame[frame["site"] == SITE].to_csv(folder / "site.csv", index=False)
    return folder


def _card(run_dir: Path, name: str = "fedavg") -> dict[str, Any]:
    card: dict[str, Any] = json.loads(
        (run_dir / "out" / "models" / f"{name}.card.json").read_text()
    )
    return card


def _predict(model: Path, data: Path, out: Path, *extra: str) -> Any:
    return runner.invoke(
        app, ["predict", str(model), "--data", str(data), "--out", str(out), *extra]
    )


def test_predictions_rank_the_site_s_test_rows_as_its_reported_c(run_dir: Path) -> None:
    out = run_dir / "predictions.csv"
    result = _predict(run_dir / "out" / "models" / "fedavg.card.json", run_dir / "site.csv", out)
    assert result.exit_code == 0, result.output
    assert "PATIENT" not in result.output
    predicted = pd.read_csv(out, dtype={"pid": str})
    assert list(predicted.columns) == ["pid", "risk_score"]
    site_rows = pd.read_csv(run_dir / "site.csv", dtype={"pid": str})
    assert predicted["pid"].tolist() == site_rows["pid"].tolist()

    study = load_study(run_dir / "data" / "study.toml")
    site = load_cohort(study.cohort, run_dir / "data", SEED).sites[SITE]
    test = site.subset(test=True)
    risk = predicted["risk_score"].to_numpy()[site.is_test]
    c = concordance_counts(test.time_days, test.event, risk).cindex
    doc = json.loads((run_dir / "out" / "results.json").read_text())
    reported = doc["methods"]["fedavg"]["per_site"][SITE]["harrell_c"]
    assert abs(c - reported) <= 1e-12
    # the weights path works as well as the card's, and gives the same scores
    again = run_dir / "again.csv"
    weights = run_dir / "out" / "models" / "fedavg.safetensors"
    assert _predict(weights, run_dir / "site.csv", again).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


def test_cards_cite_the_weights_hash_and_the_ledger_entries(run_dir: Path) -> None:
    doc = json.loads((run_dir / "out" / "results.json").read_text())
    assert set(doc["models"]) == {"fedavg", "pooled"}
    fedavg, pooled = _card(run_dir), _card(run_dir, "pooled")
    assert fedavg["simulation_only"] is False and pooled["simulation_only"] is True
    weights = (run_dir / "out" / "models" / "fedavg.safetensors").read_bytes()
    assert fedavg["weights"]["sha256"] == sha256_hex(weights) == doc["models"]["fedavg"]["sha256"]
    assert fedavg["features"] == ["age", "marker", "stage", "smoker"]
    assert fedavg["columns"] == ["age", "marker", "stage=II", "stage=III", "smoker"]
    assert fedavg["config_hash"] == doc["config_hash"] and fedavg["seed"] == SEED
    assert fedavg["strategy"]["name"] == "fedavg" and fedavg["rounds"] == 2
    assert fedavg["model"]["kind"] == "linear_cox" and fedavg["model"]["loss"] == "cox"
    ledger = fedavg["ledger"]
    assert ledger["plan_seq"] == doc["methods"]["fedavg"]["ledger"]["plan_seq"]
    source = open_source(run_dir / "out" / "ledger.sqlite")
    try:
        entries = {s.seq: Entry.parse(s.entry) for s in source.entries()}
    finally:
        source.close()
    assert entries[ledger["aggregation_seq"]].kind == "aggregation"
    assert entries[ledger["aggregation_seq"]].payload["output_hash"] == sha256_hex(weights)
    assert entries[ledger["model_seq"]].payload["model"] == sha256_hex(weights)
    text = (run_dir / "out" / "models" / "fedavg.card.json").read_text()
    assert "PATIENT" not in text


def _copy_models(run_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(run_dir / "out" / "models", folder)
    return folder / "fedavg.card.json"


def test_a_card_that_is_not_one_is_refused(run_dir: Path, tmp_path: Path) -> None:
    card = _copy_models(run_dir, tmp_path)
    document = json.loads(card.read_text())
    document["format"] = "something-else"
    card.write_text(json.dumps(document))
    result = _predict(card, run_dir / "site.csv", tmp_path / "p.csv")
    assert result.exit_code == ConfigError.exit_code
    assert "field 'format'" in result.output and "Traceback" not in result.output
    document["format"] = _card(run_dir)["format"]
    document["preprocessing"]["means"] = [0.0]
    card.write_text(json.dumps(document))
    result = _predict(card, run_dir / "site.csv", tmp_path / "p.csv")
    assert result.exit_code == ConfigError.exit_code and "field 'preprocessing'" in result.output
    assert not (tmp_path / "p.csv").exists()


def test_weights_that_are_not_the_card_s_are_refused(run_dir: Path, tmp_path: Path) -> None:
    card = _copy_models(run_dir, tmp_path)
    shutil.copy(card.with_name("pooled.safetensors"), card.with_name("fedavg.safetensors"))
    result = _predict(card, run_dir / "site.csv", tmp_path / "p.csv")
    assert result.exit_code == ConfigError.exit_code
    assert "SHA-256 differs from the card's" in result.output
    assert not (tmp_path / "p.csv").exists()


def test_a_missing_column_is_named(run_dir: Path, tmp_path: Path) -> None:
    rows = pd.read_csv(run_dir / "site.csv", dtype={"pid": str}).drop(columns=["marker"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    card = run_dir / "out" / "models" / "fedavg.card.json"
    result = _predict(card, tmp_path / "rows.csv", tmp_path / "p.csv")
    assert result.exit_code == DataError.exit_code
    assert "rows.csv: missing feature column 'marker'" in result.output


def test_an_unknown_level_fails_naming_the_column_unless_ignored(
    run_dir: Path, tmp_path: Path
) -> None:
    rows = pd.read_csv(run_dir / "site.csv", dtype={"pid": str})
    rows.loc[[2, 5], "stage"] = "IV-SECRET"
    rows = rows.drop(columns=["pid"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    card = run_dir / "out" / "models" / "fedavg.card.json"
    result = _predict(card, tmp_path / "rows.csv", tmp_path / "p.csv")
    assert result.exit_code == DataError.exit_code
    assert "column 'stage' has 2 cells with a level the model was not trained on" in result.output
    assert "rows 3, 6" in result.output and "SECRET" not in result.output
    assert not (tmp_path / "p.csv").exists()

    result = _predict(card, tmp_path / "rows.csv", tmp_path / "p.csv", "--unknown-levels", "ignore")
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(tmp_path / "p.csv")
    assert list(scored.columns) == ["row", "risk_score"] and len(scored) == len(rows)
    reference = rows.copy()
    reference.loc[[2, 5], "stage"] = "I"  # the reference level: what an unknown one encodes as
    reference.to_csv(tmp_path / "reference.csv", index=False)
    assert _predict(card, tmp_path / "reference.csv", tmp_path / "r.csv").exit_code == 0
    expected = pd.read_csv(tmp_path / "r.csv")["risk_score"].to_numpy()
    np.testing.assert_array_equal(scored["risk_score"].to_numpy(), expected)


def test_docs_models_page_shows_real_commands() -> None:
    commands = accord_lines((ROOT / "docs" / "models.md").read_text())
    assert len(commands) == 2
    for argv in commands:
        check_command(argv)
