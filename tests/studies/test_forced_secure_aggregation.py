"""Sites whose policy forces secure aggregation take part in every step of a secure study,
and refuse — signed, naming the policy — a study that sums in clear (issue #15)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accord.core import AggregationError, PolicyError, StudySpec
from accord.data import load_cohort
from accord.fl.governance import SitePolicy
from accord.ledger import open_source
from accord.studies import results_document, run_study
from accord.studies._audit import RunLedger
from accord.synth import generate_hcc_consortium

FORCING = SitePolicy(force_secure_aggregation=True, allow_tile_export=True, max_exported_patients=1)

QuickStudy = Callable[..., StudySpec]  # the quick_hcc fixture (conftest)


def _governed(study: StudySpec, folder: Path, out: Path, policy: SitePolicy | None) -> RunLedger:
    cohort = load_cohort(study.cohort, folder, 0, preprocessing=study.preprocessing)
    audit = RunLedger.create(out, study, cohort)
    if policy is not None:
        for governance in audit.governance.values():
            governance.policy = policy
    return audit


def _figures(document: dict[str, Any]) -> dict[str, Any]:
    """Every figure of a results document, without the ledger positions."""
    out = {}
    for method, doc in document["methods"].items():
        per_site = {
            s: {k: v for k, v in m.items() if k != "ledger_seq"} for s, m in doc["per_site"].items()
        }
        out[method] = (doc["consortium_cindex"], doc["consortium_cindex_interval"], per_site)
    return out


def _refusals(ledger: Path) -> list[tuple[str, str, str]]:
    source = open_source(ledger)
    try:
        payloads = [
            json.loads(e.entry)["payload"] for e in source.entries() if e.kind == "task.refused"
        ]
    finally:
        source.close()
    return [(p["site"], p["task_kind"], p["reason"]) for p in payloads]


def test_every_site_forcing_secure_aggregation_runs_the_whole_study(
    hcc_three_sites: Path, quick_hcc: QuickStudy, tmp_path: Path
) -> None:
    study = quick_hcc()
    runs = {}
    for label, policy in (("forced", FORCING), ("default", None)):
        out = tmp_path / label
        audit = _governed(study, hcc_three_sites, out, policy)
        sim, results = run_study(study, hcc_three_sites, 0, audit=audit)
        assert sim.run.excluded == {} and not any(r.error for r in results)
        assert _refusals(out / "ledger.sqlite") == []
        document = results_document(sim.run, results, oracle=sim.oracle)
        runs[label] = document
    forced, default = runs["forced"], runs["default"]
    assert {"fedavg", "pooled", "local:site01", "local:site02", "local:site03"} <= set(
        forced["methods"]
    )
    assert _figures(forced) == _figures(default)
    assert forced["risk_groups"]["curves"] == default["risk_groups"]["curves"]
    # under secure aggregation the hub learns the consortium's sizes, no site's
    assert forced["consortium_sizes"]["n_train"] + forced["consortium_sizes"]["n_test"] == 90
    assert all(s["n_train"] is None for s in forced["sites"].values())


def test_forcing_sites_take_part_in_tile_steps_interpretation_and_export(
    hcc_three_sites: Path, quick_hcc: QuickStudy, tmp_path: Path
) -> None:
    """A MIL study: tile sums and spreads (secure), the tile standardisation and setup
    broadcasts, heatmaps rendered at the site, and a tile export that the sites' own
    export policy governs (its plan is never secure: tiles cannot be summed)."""
    study = quick_hcc("chowder")
    study = study.model_copy(
        update={"training": study.training.model_copy(update={"baselines": ("local",)})}
    )
    out = tmp_path / "out"
    audit = _governed(study, hcc_three_sites, out, FORCING)
    sim, results = run_study(
        study, hcc_three_sites, 0, audit=audit, feature_cache=tmp_path / "cache"
    )
    run = sim.run
    assert run.view.feature_dim == 34 and run.excluded == {}
    assert [r.method for r in results] == ["fedavg", "local:site01", "local:site02", "local:site03"]
    assert run.interpret(results[0]) == 9
    audit.governance["site03"].policy = FORCING.model_copy(update={"allow_tile_export": False})
    exported = run.export_tiles(results[0], out / "exported", patients=1)
    assert sorted(exported) == ["site01", "site02"]
    assert [(s, k) for s, k, _ in _refusals(out / "ledger.sqlite")] == [("site03", "export_tiles")]


def test_forcing_sites_refuse_a_study_that_sums_in_clear_with_a_signed_reason(
    hcc_three_sites: Path, quick_hcc: QuickStudy, tmp_path: Path
) -> None:
    study = quick_hcc(secure="off")
    out = tmp_path / "out"
    audit = _governed(study, hcc_three_sites, out, FORCING)
    clear = r"3 of 3 sites refused the preprocessing plan: .*force-secure-aggregation.*'off'"
    with pytest.raises(PolicyError, match=clear) as failure:
        run_study(study, hcc_three_sites, 0, audit=audit)
    assert isinstance(failure.value.__cause__, AggregationError)  # the hub's exchange failed
    refused = _refusals(out / "ledger.sqlite")
    assert sorted(site for site, _, _ in refused) == ["site01", "site02", "site03"]
    for _, kind, reason in refused:
        assert kind == "schema"
        assert reason.startswith(
            "site requires secure aggregation (policy force-secure-aggregation)"
        )
        assert "sums in clear" in reason


def test_two_forcing_sites_need_the_study_to_turn_secure_aggregation_on(
    quick_hcc: QuickStudy, tmp_path: Path
) -> None:
    """With two sites "auto" sums in clear (each could read the other's update off the
    model): forcing sites refuse it, and take part once the study says "on"."""
    folder = tmp_path / "hcc2"
    generate_hcc_consortium(folder, sites=2, patients=30, seed=3, slide_size=768)
    with pytest.raises(
        PolicyError, match=r"'auto' with 2 sites\); set privacy.secure_aggregation = 'on'"
    ):
        run_study(
            quick_hcc(), folder, 0, audit=_governed(quick_hcc(), folder, tmp_path / "a", FORCING)
        )
    study = quick_hcc(secure="on")
    sim, results = run_study(
        study, folder, 0, audit=_governed(study, folder, tmp_path / "b", FORCING)
    )
    assert sim.run.excluded == {} and results[0].consortium_cindex is not None
