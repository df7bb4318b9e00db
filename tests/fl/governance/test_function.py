"""The function archive: the whole study, the plan's variant and the site code."""

from __future__ import annotations

from typing import Any

import pytest

from accord.core import ConfigError, StudySpec, canonical_json, sha256_hex
from accord.fl.governance import archive_diff, archive_summary, function_archive, site_code
from accord.fl.governance._function import plan_config
from accord.studies import builtin_study

CODE = {"accord/fl/_site.py": "a" * 64, "accord/data/_cohort.py": "b" * 64}


@pytest.fixture(scope="module")
def study() -> StudySpec:
    return builtin_study("lung-demo")


def _digest(value: Any) -> str:
    return sha256_hex(canonical_json(value))


def _with(study: StudySpec, section: str, **values: Any) -> StudySpec:
    part = getattr(study, section).model_copy(update=values)
    return study.model_copy(update={section: part})


def test_the_archive_holds_the_whole_study_and_the_site_code(study: StudySpec) -> None:
    archive = function_archive(study)
    assert set(archive) == {"format", "config", "variant", "code"}
    assert set(archive["config"]) == set(StudySpec.model_fields)
    assert _digest(archive["config"]) == study.config_hash()
    assert archive["variant"] == {}
    assert archive["code"] == site_code()
    canonical_json(archive)  # no floats: the ledger can hold it


def test_a_baseline_plan_carries_its_model_and_training_as_a_variant(study: StudySpec) -> None:
    baseline = _with(_with(study, "model", kind="mlp_cox"), "training", rounds=3)
    archive = function_archive(baseline, site_study=study, code=CODE)
    assert _digest(archive["config"]) == study.config_hash()
    assert set(archive["variant"]) == {"model", "training"}
    assert _digest(plan_config(archive)) == baseline.config_hash()


@pytest.mark.parametrize("section", ["cohort", "preprocessing", "evaluation", "privacy"])
def test_a_plan_may_not_change_what_sites_read_from_their_own_file(
    study: StudySpec, section: str
) -> None:
    changed = {
        "cohort": lambda s: _with(s, "cohort", time_unit="weeks"),
        "preprocessing": lambda s: _with(s, "preprocessing", min_cell_count=1),
        "evaluation": lambda s: _with(s, "evaluation", bootstrap=0),
        "privacy": lambda s: _with(s, "privacy", secagg_clip=5.0),
    }[section](study)
    with pytest.raises(ConfigError, match=rf"sites hold in \[{section}\]; only \[model\]"):
        function_archive(changed, site_study=study, code=CODE)


def test_the_diff_names_every_changed_setting_and_code_file(study: StudySpec) -> None:
    before = function_archive(study, code=CODE)
    features = {**study.cohort.features, "bmi": "numeric"}
    after_study = _with(
        _with(_with(study, "cohort", features=features), "preprocessing", min_cell_count=1),
        "evaluation",
        horizons_days=(365.0, 730.0),
    )
    code = {"accord/fl/_site.py": "c" * 64, "accord/fl/_new.py": "d" * 64}
    after = function_archive(after_study, code=code)
    order = '["age", "sex", "ph.ecog", "ph.karno", "wt.loss"'
    assert archive_diff(before, after) == [
        f'~ config.cohort.feature_order: {order}] -> {order}, "bmi"]',
        '+ config.cohort.features.bmi = "numeric"',
        '~ config.evaluation.horizons_days: ["180.0", "365.0", "540.0"] -> ["365.0", "730.0"]',
        "~ config.preprocessing.min_cell_count: 5 -> 1",
        "- code accord/data/_cohort.py (removed)",
        "+ code accord/fl/_new.py (new file)",
        "~ code accord/fl/_site.py (changed)",
    ]
    assert archive_diff(before, before) == ["(identical settings and code)"]
    assert archive_diff(None, before) == ["(no earlier approved function to compare with)"]


def test_the_diff_of_a_baseline_shows_what_it_runs_and_what_the_sites_hold(
    study: StudySpec,
) -> None:
    approved = function_archive(study, code=CODE)
    baseline = _with(study, "model", kind="mlp_cox")
    plan = function_archive(baseline, site_study=study, code=CODE)
    assert archive_diff(approved, plan) == [
        '~ config.model.kind: "linear_cox" -> "mlp_cox"',
        "~ the plan replaces [model] of the sites' study file (was nothing)",
    ]
    held = _with(study, "model", l2=0.5)  # the sites' file changed under the same baseline
    again = function_archive(baseline, site_study=held, code=CODE)
    assert archive_diff(plan, again) == [
        f'~ study file.model.l2: "{study.model.l2!r}" -> "0.5"',
    ]


def test_a_long_code_diff_is_cut_short(study: StudySpec) -> None:
    before = function_archive(study, code={f"accord/m{i:02d}.py": "a" * 64 for i in range(30)})
    after = function_archive(study, code={f"accord/m{i:02d}.py": "b" * 64 for i in range(30)})
    lines = archive_diff(before, after)
    assert len(lines) == 21 and lines[-1] == "  ... and 10 more code files"


def test_the_summary_shows_what_an_owner_approves(study: StudySpec) -> None:
    baseline = _with(study, "model", kind="mlp_cox")
    lines = archive_summary(function_archive(baseline, site_study=study, code=CODE))
    text = "\n".join(lines)
    columns = ", ".join(f"{c} ({k})" for c, k in sorted(study.cohort.features.items()))
    assert f"cohort columns: {columns}" in lines
    assert f"min_cell_count {study.preprocessing.min_cell_count}" in text
    for section in ("privacy:", "model:", "training:", "evaluation:"):
        assert any(line.startswith(section) for line in lines), section
    assert any(line.startswith('this plan\'s model instead: dropout "0.0"') for line in lines)
    assert lines[-1] == f"site code: 2 files, code hash {_digest(CODE)[:16]}"
