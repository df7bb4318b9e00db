"""A researcher's commands against a running hub, from the researcher's own machine.

``accord submit STUDY --hub URL --config researcher.toml`` pulls and verifies the hub's
log, registers the functions the study's plans run (the study itself and, if it has one,
its clinical-only baseline) and signs one ``study.submitted`` entry naming them, the seed
and the datasets (default: every enabled dataset whose owner permits this researcher).
The hub runs it once every owner has approved; ``accord status --hub URL`` follows it and
``accord results --hub URL RUN --out DIR`` rebuilds its figures from the verified ledger
(:func:`accord.studies.ledger_results`). The researcher's replica of the log lives in its
folder (``ledger.sqlite``, pinned to its ``anchor.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.core import ConfigError, StudySpec, TransportError, load_json, new_id
from accord.fl.governance import (
    FUNCTION_REGISTERED,
    STUDY_SUBMITTED,
    GovernanceView,
    archive_hash,
    function_archive,
)
from accord.services._member import (
    MemberConfig,
    member_client,
    member_session,
    read_member_config,
)
from accord.services._status_api import STATUS_PATH
from accord.studies import (
    clinical_variant,
    ledger_results,
    write_json_atomic,
    write_ledger_report,
)

__all__ = ["Submitted", "fetch_results", "hub_status", "study_functions", "submit_study"]

REPLICA = "ledger.sqlite"


@dataclass(frozen=True)
class Submitted:
    run: str
    seq: int
    functions: dict[str, str]
    datasets: list[str]


def study_functions(study: StudySpec) -> dict[str, dict[str, Any]]:
    """method -> function archive for every plan a hub runs of ``study``."""
    archives = {"study": function_archive(study)}
    if "clinical_only" in study.training.baselines and study.model.kind != "linear_cox":
        archives["clinical_only"] = function_archive(clinical_variant(study), study)
    return archives


def _choose(view: GovernanceView, org: str, asked: list[str]) -> list[str]:
    usable = {d.id for d in view.datasets.values() if d.enabled and org in d.permissions}
    if not asked:
        chosen = sorted(usable)
        if not chosen:
            raise ConfigError(f"no dataset on the ledger permits '{org}' (ask the data owners)")
    else:
        chosen = sorted(set(asked))
        for dataset in chosen:
            if dataset not in view.datasets:
                raise ConfigError(f"--dataset {dataset}: not registered on the ledger")
            if dataset not in usable:
                raise ConfigError(f"--dataset {dataset}: disabled, or does not permit '{org}'")
    sites = [view.datasets[d].site for d in chosen]
    if len(set(sites)) != len(sites):
        raise ConfigError("--dataset: at most one dataset of each site in one run")
    return chosen


def submit_study(
    config_path: Path, study: StudySpec, seed: int, datasets: list[str] | None = None
) -> Submitted:
    """Register the study's functions and sign its submission (see module docstring)."""
    config = read_member_config(config_path, ("researcher",))
    with member_session(config, config.folder / REPLICA) as session:
        view = session.view()
        chosen = _choose(view, config.org, list(datasets or []))
        functions: dict[str, str] = {}
        for method, archive in study_functions(study).items():
            digest = archive_hash(archive)
            if digest not in view.functions:
                entry = {"function": digest, "name": study.study.name, "archive": archive}
                session.record(FUNCTION_REGISTERED, entry)
            functions[method] = digest
        run = new_id("run")
        payload: dict[str, Any] = {
            "run": run,
            "study": study.study.name,
            "functions": functions,
            "seed": seed,
            "datasets": chosen,
        }
        seq = session.record(STUDY_SUBMITTED, payload)
    return Submitted(run, seq, functions, chosen)


def hub_status(config_path: Path) -> dict[str, Any]:
    """The hub's ``/v1/status`` (members, sites, runs), over this member's mutual TLS."""
    config = read_member_config(config_path)
    with member_client(config) as http:
        response = http.get(STATUS_PATH)
    if response.status_code != 200:
        raise TransportError(f"{config.hub}{STATUS_PATH}: HTTP {response.status_code}")
    answer = load_json(response.content)
    if not isinstance(answer, dict) or not isinstance(answer.get("runs"), list):
        raise TransportError(f"{config.hub}{STATUS_PATH}: not a hub status document")
    return answer


def fetch_results(config_path: Path, run: str, out: Path) -> dict[str, Any]:
    """``out/results.json`` and ``out/report.html`` of ``run``, from the verified ledger."""
    config: MemberConfig = read_member_config(config_path)
    replica = config.folder / REPLICA
    with member_session(config, replica) as session:
        session.view()
        entries = session.entries()
        log_id = session.replica.verifier.log_id or ""
    document, results = ledger_results(entries, run, log_id)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", document)
    write_ledger_report(document, results, out, replica)
    return document
