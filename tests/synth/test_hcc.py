"""The synthetic HCC consortium: files, determinism, clinical realism and planted truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.utils import concordance_index
from typer.testing import CliRunner

import accord.synth._hcc as hcc_module
from accord.cli._synth import synth_app
from accord.cli._synth_hcc import hcc
from accord.core import ConfigError, DataError
from accord.synth import write_slide
from accord.synth._clinical import CLINICAL_COLUMNS, LOG_HR, risk_factors, simulate_clinical
from accord.synth._hcc import HCCConsortium, generate_hcc_consortium, harrell_c

SIZE = 512
PATIENTS = (15, 12, 10)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> HCCConsortium:
    out = tmp_path_factory.mktemp("hcc") / "consortium"
    return generate_hcc_consortium(out, sites=3, patients=PATIENTS, seed=11, slide_size=SIZE)


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    """A large clinical-only cohort (no slides) at an average site."""
    return simulate_clinical(3000, np.random.default_rng(5))


def test_files_and_columns(consortium: HCCConsortium) -> None:
    root = consortium.root
    assert consortium.sites == ("site01", "site02", "site03")
    assert (root / "truth.csv").exists() and consortium.truth == root / "truth.csv"
    manifest = json.loads((root / "consortium.json").read_text())
    assert [s["patients"] for s in manifest["sites"]] == list(PATIENTS)
    assert manifest["parameters"]["seed"] == 11
    assert len({s["profile"] for s in manifest["sites"]}) == 3
    for site, n in zip(consortium.sites, PATIENTS, strict=True):
        table = pd.read_csv(consortium.clinical[site])
        assert list(table.columns) == ["patient_id", "slide", *CLINICAL_COLUMNS]
        assert len(table) == n and table["patient_id"].str.startswith(f"HCC-{site}-").all()
        assert all((root / site / path).is_file() for path in table["slide"])
        assert len(list(consortium.slides[site].glob("*.ome.tif"))) == n
        assert (table["rfs_days"] <= table["os_days"]).all()
        assert (table["os_days"] <= 1825).all() and (table["os_days"] >= 1).all()
    truth = pd.read_csv(consortium.truth)
    assert {"patient_id", "site", "linear_predictor", "pattern_extent"} <= set(truth.columns)
    assert len(truth) == sum(PATIENTS)


def test_same_seed_same_files_with_or_without_workers(
    consortium: HCCConsortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hcc_module, "_POOL_MIN_PIXELS", 0)  # force the process pool
    again = generate_hcc_consortium(
        tmp_path / "again", sites=3, patients=PATIENTS, seed=11, slide_size=SIZE
    )
    for site in consortium.sites:
        assert again.clinical[site].read_bytes() == consortium.clinical[site].read_bytes()
        for slide in sorted(consortium.slides[site].glob("*.ome.tif"))[:3]:
            assert (again.slides[site] / slide.name).read_bytes() == slide.read_bytes()
    assert again.truth.read_bytes() == consortium.truth.read_bytes()


def test_another_seed_gives_another_consortium(consortium: HCCConsortium, tmp_path: Path) -> None:
    other = generate_hcc_consortium(
        tmp_path / "other", sites=1, patients=4, seed=12, slide_size=256
    )
    first = pd.read_csv(consortium.clinical["site01"]).head(4)
    assert not pd.read_csv(other.clinical["site01"]).equals(first)


def test_truth_extent_is_the_planted_fraction_of_the_slide(
    consortium: HCCConsortium, tmp_path: Path
) -> None:
    truth = pd.read_csv(consortium.truth)
    assert (truth["pattern_extent"] <= 0.45).all()
    assert np.allclose(truth["pattern_extent"], truth["pattern_fraction"], atol=0.01)
    assert (truth.loc[truth["pattern_extent"] == 0, "pattern_fraction"] == 0).all()
    row = truth[truth["pattern_extent"] > 0].iloc[0]
    slide = write_slide(
        tmp_path / "again.ome.tif",
        width=SIZE,
        height=SIZE,
        seed=int(row["slide_seed"]),
        profile=str(row["profile"]),
        patterns={"macrotrabecular": float(row["pattern_extent"])},
        pen_marks=bool(row["pen_marks"]),
    )
    fractions = slide.pattern_fractions()
    assert fractions["macrotrabecular"] == pytest.approx(row["pattern_fraction"], abs=1e-4)
    assert fractions["vetc"] == fractions["immune"] == 0.0
    original = consortium.slides[str(row["site"])] / f"{row['patient_id']}.ome.tif"
    assert slide.path.read_bytes() == original.read_bytes()


def test_oracle_cindex_matches_lifelines(consortium: HCCConsortium) -> None:
    truth = pd.read_csv(consortium.truth)
    clinical = pd.concat(pd.read_csv(consortium.clinical[s]) for s in consortium.sites)
    joined = truth.merge(clinical, on="patient_id")
    expected = concordance_index(joined["os_days"], -joined["linear_predictor"], joined["os_event"])
    assert consortium.oracle_cindex() == pytest.approx(expected, abs=1e-12)
    assert consortium.oracle_cindex() > 0.6


def test_summary_per_site(consortium: HCCConsortium) -> None:
    summary = consortium.summary()
    assert [s.site for s in summary] == list(consortium.sites)
    assert [s.patients for s in summary] == list(PATIENTS)
    assert all(0.0 <= s.os_event_rate <= s.rfs_event_rate <= 1.0 for s in summary)


def test_prevalences_are_those_of_resected_hcc(population: pd.DataFrame) -> None:
    x = risk_factors(population)
    assert 0.30 <= x["microvascular_invasion"].mean() <= 0.50
    assert 0.40 <= x["fibrosis_f4"].mean() <= 0.60
    assert 0.30 <= x["size_gt_5cm"].mean() <= 0.55
    assert 10.0 <= population["afp_ng_ml"].median() <= 22.0
    assert 0.55 <= (population["pattern_extent"] == 0).mean() <= 0.65
    assert population["pattern_extent"].max() <= 0.45
    assert set(population["aetiology"]) == {"HBV", "HCV", "alcohol", "NAFLD", "mixed"}
    assert set(population["edmondson_grade"]) == {1, 2, 3, 4}


def test_pattern_goes_with_mvi_and_afp_but_is_not_determined_by_them(
    population: pd.DataFrame,
) -> None:
    carrier = population["pattern_extent"] > 0
    mvi = population["microvascular_invasion"] == 1
    high_afp = population["afp_ng_ml"] > 400
    assert mvi[carrier].mean() > mvi[~carrier].mean() + 0.1
    assert high_afp[carrier].mean() > high_afp[~carrier].mean()
    assert 0.05 < np.corrcoef(carrier, mvi)[0, 1] < 0.5


def test_survival_and_event_rates_are_plausible(population: pd.DataFrame) -> None:
    os_km = KaplanMeierFitter().fit(population["os_days"], population["os_event"])
    rfs_km = KaplanMeierFitter().fit(population["rfs_days"], population["rfs_event"])
    assert 0.58 <= float(os_km.predict(1824.0)) <= 0.72
    assert 0.30 <= float(rfs_km.predict(1824.0)) <= 0.50
    assert 0.25 <= population["os_event"].mean() <= 0.42
    assert population["rfs_event"].mean() > population["os_event"].mean()
    recurred = population[population["rfs_event"] == 1]
    assert (recurred["rfs_days"] <= 730).mean() > 0.5  # most recurrences within 2 years
    assert (population["rfs_days"] <= population["os_days"]).all()
    censored = population[population["os_event"] == 0]
    lost = (censored["os_days"] < 1825).mean() * len(censored) / len(population)
    assert 0.04 <= lost <= 0.15


def test_cox_fit_recovers_published_hazard_ratios(population: pd.DataFrame) -> None:
    data = risk_factors(population).assign(
        os_days=population["os_days"], os_event=population["os_event"]
    )
    hr = np.exp(CoxPHFitter().fit(data, "os_days", "os_event").params_)
    assert 1.5 <= hr["microvascular_invasion"] <= 2.7  # planted 2.0, published 1.5-2.5
    assert 1.005 <= hr["age_per_year"] <= 1.035
    for name, log_hr in LOG_HR.items():
        assert abs(np.log(hr[name]) - log_hr) < 0.35, name


def test_slides_carry_signal_beyond_the_clinic(population: pd.DataFrame) -> None:
    t, e = population["os_days"].to_numpy(float), population["os_event"].to_numpy() == 1
    oracle = harrell_c(t, e, population["linear_predictor"].to_numpy(float))
    clinical = harrell_c(t, e, population["clinical_linear_predictor"].to_numpy(float))
    assert oracle > 0.65
    assert oracle > clinical + 0.005


def test_referral_centre_sees_more_advanced_disease() -> None:
    base = simulate_clinical(2000, np.random.default_rng(1), 0.0)
    referral = simulate_clinical(2000, np.random.default_rng(1), 0.4)
    for frame in (base, referral):
        frame["carrier"] = frame["pattern_extent"] > 0
    for column in ("microvascular_invasion", "carrier", "os_event"):
        assert referral[column].mean() > base[column].mean()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 20), st.booleans(), st.integers(0, 4)), min_size=2, max_size=40
    )
)
def test_harrell_c_agrees_with_lifelines(rows: list[tuple[int, bool, int]]) -> None:
    t = np.array([r[0] for r in rows], dtype=float)
    e = np.array([r[1] for r in rows])
    risk = np.array([r[2] for r in rows], dtype=float)
    try:
        expected = concordance_index(t, -risk, e)
    except ZeroDivisionError:
        with pytest.raises(DataError, match="no comparable pairs"):
            harrell_c(t, e, risk)
        return
    assert harrell_c(t, e, risk) == pytest.approx(expected)


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown 'tubular'"):
        generate_hcc_consortium(tmp_path / "a", pattern="tubular")
    with pytest.raises(ConfigError, match="one per site"):
        generate_hcc_consortium(tmp_path / "b", sites=3, patients=[5, 5])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a synthetic consortium"):
        generate_hcc_consortium(tmp_path / "c", sites=1, patients=2, slide_size=256)


def test_cli_writes_the_consortium_and_prints_a_summary(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    out = tmp_path / "cli"
    args = ["--sites", "2", "--patients", "3", "--slide-size", "256", "--out", str(out)]
    result = runner.invoke(synth_app, ["hcc", *args])
    assert result.exit_code == 0, result.output
    for text in ("site01", "site02", "OS events", "pattern prevalence", "oracle C-index"):
        assert text in result.output
    assert (out / "truth.csv").exists() and (out / "site02" / "clinical.csv").exists()
    assert "HCC-site01" not in result.output  # no patient identifiers on screen


def test_cli_reports_a_bad_folder_in_one_line(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(hcc)
    (tmp_path / "taken.txt").write_text("x")
    result = CliRunner().invoke(app, ["--sites", "1", "--patients", "2", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a synthetic consortium" in result.output
