"""The HCC study end to end on a tiny synthetic consortium: slides → features → MIL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accord.core.errors import DataError
from accord.data import load_cohort
from accord.studies import builtin_study
from accord.studies.runner import StudyRun
from accord.synth.hcc import generate_hcc_consortium


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
    run = StudyRun.prepare(
        _quick(kind), consortium, 0, feature_cache=tmp_path / "cache", ledger_dir=tmp_path / "out"
    )
    assert run.consortium.feature_dim == 34
    assert run.excluded == {}
    result = run.federated()
    assert run.consortium.hub.secure is not None  # 3 sites: on by default
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
    run = StudyRun.prepare(_quick(), root, 0, feature_cache=tmp_path / "cache")
    assert "site02" in run.excluded
    assert "no tissue tile" in run.excluded["site02"]
    assert "HCC-" not in run.excluded["site02"]  # rows, never patient ids
