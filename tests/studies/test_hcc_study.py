"""The HCC study end to end on a tiny synthetic consortium: slides → features → MIL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accord.core import DataError
from accord.data import load_cohort
from accord.studies import Simulation, builtin_study
from accord.synth import generate_hcc_consortium


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hcc")
    generate_hcc_consortium(root, sites=3, patients=30, seed=3, slide_size=768)
    return root


def _quick(kind: str = "chowder"):  # type: ignore[no-untyped-def]
    study = builtin_study("hcc-resection-survival")
    training = study.training.model_copy(update={"rounds": 2, "local_steps": 3})
    evaluation = study.evaluation.model_copy(update={"bootstrap": 10, "horizons_days": ()})
    model = study.model.model_copy(update={"kind": kind})
    return study.model_copy(update={"training": training, "evaluation": evaluation, "model": model})


def test_site_folders_load_with_their_slides(consortium: Path) -> None:
    study = builtin_study("hcc-resection-survival")
    cohort = load_cohort(study.cohort, consortium, 0)
    assert set(cohort.sites) == {"site01", "site02", "site03"}
    for site in cohort.sites.values():
        assert site.slides is not None and len(site.slides) == site.n
        assert all(Path(s).is_file() for s in site.slides)
        assert site.subset(test=True).slides is not None


@pytest.mark.parametrize("kind", ["chowder", "abmil"])
def test_federated_mil_with_secure_aggregation_runs(
    consortium: Path, tmp_path: Path, kind: str
) -> None:
    run = Simulation.prepare(
        _quick(kind), consortium, 0, feature_cache=tmp_path / "cache", ledger_dir=tmp_path / "out"
    ).run
    assert run.view.feature_dim == 34
    assert run.excluded == {}
    result = run.federated()
    assert run.plan.secure is not None  # 3 sites: on by default
    assert result.consortium_cindex is not None and 0.0 <= result.consortium_cindex <= 1.0
    clinical = run.clinical_only()
    assert clinical.consortium_cindex is not None
    assert any(f.name.endswith(".safetensors") for f in (tmp_path / "cache").iterdir())
    rendered = run.interpret(result)
    assert rendered == 3 * 3  # three highest-risk test patients at each of the 3 sites
    pngs = sorted((tmp_path / "out" / "sites" / "site01" / "interpretability").glob("*.png"))
    assert len(pngs) == 6  # a heatmap and a tile gallery per patient, kept at the site
    from PIL import Image

    assert Image.open(pngs[0]).size[0] > 0


def test_a_missing_slide_is_named_by_row_not_by_file(consortium: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(consortium, copy)
    table = copy / "site02" / "clinical.csv"
    frame = pd.read_csv(table)
    frame.loc[3, "slide"] = "slides/PATIENT-SECRET-9999.ome.tif"
    frame.to_csv(table, index=False)
    study = builtin_study("hcc-resection-survival")
    with pytest.raises(DataError, match=r"site02/clinical.csv: column 'slide' names 1 slide") as e:
        load_cohort(study.cohort, copy, 0)
    assert "PATIENT-SECRET" not in str(e.value) and "row 4" in str(e.value)
    assert np.isfinite(1.0)


def test_a_site_whose_setup_fails_is_reported_not_silently_dropped(tmp_path: Path) -> None:
    root = tmp_path / "tiny"
    generate_hcc_consortium(root, sites=3, patients=30, seed=3, slide_size=512)
    broken = sorted((root / "site02" / "slides").glob("*.ome.tif"))[4]
    broken.write_bytes(b"not a slide")
    run = Simulation.prepare(_quick(), root, 0, feature_cache=tmp_path / "cache").run
    assert set(run.excluded) == {"site02"}
    assert "1 slides could not be read (patients at rows [5])" in run.excluded["site02"]
    assert "HCC-" not in run.excluded["site02"]  # rows, never patient ids


def test_risk_groups_oracle_and_tile_export_end_to_end(consortium: Path, tmp_path: Path) -> None:
    """One governed run: KM by risk group from sums, the oracle, and a recorded tile export."""
    import json

    from accord.fl.governance import SitePolicy
    from accord.ledger import open_source
    from accord.studies import oracle_result, results_document, write_report
    from accord.synth._hcc import harrell_c

    out = tmp_path / "out"
    sim = Simulation.prepare(
        _quick(), consortium, 0, feature_cache=tmp_path / "cache", ledger_dir=out
    )
    run = sim.run
    assert run.audit is not None
    run.audit.governance["site03"].policy = SitePolicy()  # the protective default: no tile export
    result = run.federated()

    # Risk groups: the summed counts are the pooled counts of the held-out patients.
    groups = run.compute_risk_groups(result, "chowder")
    assert groups is not None
    n_test = sum(c.n_test for c in sim.cohort.sites.values())
    sizes = [int(c.at_risk[0]) for c in groups.curves if c.at_risk.size]
    assert sum(sizes) <= n_test and all(s >= 5 for s in sizes)
    for curve in groups.curves:  # released: no cell below min_cell_count
        assert np.all((curve.events == 0) | (curve.events >= 5)) and np.all(curve.at_risk >= 5)
        assert np.all(curve.events <= curve.at_risk)
    assert 0.0 <= groups.logrank_p <= 1.0
    assert groups.ledger["metric_seq"] > 0

    # The oracle is Harrell's C of truth.csv's linear predictor, pair counts within sites.
    oracle = oracle_result(consortium, run.study.cohort, sim.cohort.sites, run.excluded)
    assert oracle is not None and oracle.consortium_cindex is not None
    truth = pd.read_csv(consortium / "truth.csv").set_index("patient_id")
    site = sim.cohort.sites["site01"]
    ids = pd.read_csv(consortium / "site01" / "clinical.csv")["patient_id"].to_numpy()
    test = site.subset(test=True)
    assert test.source_rows is not None
    lp = truth.loc[ids[test.source_rows - 1], "linear_predictor"].to_numpy()
    expected = harrell_c(test.time_days, test.event.astype(bool), lp)
    assert oracle.per_site["site01"]["harrell_c"] == pytest.approx(expected)

    # Tile export: two sites' policies allow one patient; site03 refuses, on the ledger.
    exported = run.export_tiles(result, out / "exported", patients=1)
    assert sorted(exported) == ["site01", "site02"]
    names = sorted(i.name for i in exported["site01"])
    assert names == ["risk_rank_1.heatmap", "risk_rank_1.tiles"]
    assert exported["site01"][0].path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(i.ledger_seq is not None for i in exported["site01"])
    assert "site03 (tile export)" in run.excluded
    assert "does not allow tile images" in run.excluded["site03 (tile export)"]
    source = open_source(out / "ledger.sqlite")
    try:
        kinds = [
            (e.kind, json.loads(e.entry)["payload"].get("task_kind")) for e in source.entries()
        ]
    finally:
        source.close()
    assert ("task.refused", "export_tiles") in kinds
    assert kinds.count(("task.completed", "export_tiles")) == 2
    too_many = run.export_tiles(result, tmp_path / "more", patients=2)
    assert too_many == {}  # every site allows at most one patient

    run.risk_groups = groups
    run.exported = exported
    document = results_document(run, [result], oracle=oracle)
    released = document["risk_groups"]["curves"]
    assert [c["group"] for c in released] == ["low risk", "high risk"]
    assert sum(c["at_risk"][0] for c in released if c["at_risk"]) == sum(sizes)
    text = json.dumps(document)
    assert "HCC-" not in text  # no patient id in results.json
    html = write_report(run, [result], document, out, oracle=oracle).read_text()
    assert "Risk groups" in html and "oracle" in html and "What the model looks at" in html
    assert "HCC-" not in html


def test_no_risk_group_table_is_released_from_too_few_patients() -> None:
    """The note path: when no interval of any group can be released, none is."""
    import numpy as np

    from accord.fl import WeightedSum
    from accord.studies import risk_groups

    def summed(kind, params, config):  # type: ignore[no-untyped-def]
        if kind == "risk_summary" and config.get("stage") == "histogram":
            return {}, WeightedSum({"histogram": np.ones((1, 400))}, 8.0, 2)
        if kind == "risk_summary":
            return {}, WeightedSum({"moments": np.array([[8.0, 0.0, 8.0]])}, 8.0, 2)
        grid = int(config["end_days"] // 30)
        at_risk = np.full((2, grid), 4.0)  # four a group: below min_cell_count everywhere
        return {}, WeightedSum({"at_risk": at_risk, "events": np.zeros((2, grid))}, 8.0, 2)

    groups, _ = risk_groups(summed, "fedavg", {}, "chowder", 365.0, 5)
    assert groups is None


def test_a_table_that_cannot_be_released_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accord.core import load_study
    from accord.studies import Simulation, results_document
    from accord.studies import _federated_run as federated_run
    from tests.conftest import synthetic_cohort, write_study

    synthetic_cohort().to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy="fedavg", rounds=1, baselines="[]"))
    run = Simulation.prepare(study, tmp_path, 0).run
    result = run.federated()
    monkeypatch.setattr(federated_run, "risk_groups", lambda *a: (None, {}))
    assert run.compute_risk_groups(result, "linear_cox") is None
    assert run.notes == [
        "risk groups of fedavg: too few held-out patients to release a Kaplan-Meier table "
        "with no cell below min_cell_count (5)"
    ]
    assert run.notes[0] in results_document(run, [result])["notes"]
