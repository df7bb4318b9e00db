"""Studies: the federated study run, the simulation and its references, study specs.

The face names everything a caller needs; modules behind it are private. Names import
on first use (:mod:`accord._lazy_face`): the hub-side pieces (:class:`Consortium`,
:class:`RunLedger`, :class:`ConsortiumView`, :class:`Planner`) never pull in torch, the
run and the simulation (which build models) do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accord._lazy_face import lazy_face

if TYPE_CHECKING:
    from accord.studies._audit import HUB_ORG, RESEARCHER_ORG, RunLedger, dataset_payload
    from accord.studies._checkpoints import Checkpoint, PlanCheckpoints
    from accord.studies._coefficients import Coefficient
    from accord.studies._consortium import Consortium
    from accord.studies._deployed import POOLED_NOTE, run_federated
    from accord.studies._federated_run import Progress, StudyRun, clinical_variant
    from accord.studies._jsonio import write_bytes_atomic, write_json_atomic
    from accord.studies._ledger_results import LedgerFigures, ledger_results, run_ids
    from accord.studies._membership import (
        Founding,
        admit_member,
        found_consortium,
        removal_payload,
        remove_member,
    )
    from accord.studies._model_files import ModelCard, read_model_card, write_model_files
    from accord.studies._oracle import TRUTH_FILE, oracle_result
    from accord.studies._outcome import Comparison, Convergence, ExportedImage, MethodResult
    from accord.studies._planning import Planner, planned_epsilon
    from accord.studies._predict import Prediction, predict_file, predict_rows
    from accord.studies._pretrain import PretrainSettings, federated_simclr, sample_tiles
    from accord.studies._references import SimulationReferences
    from accord.studies._report_writer import build_report, write_ledger_report, write_report
    from accord.studies._results import results_document
    from accord.studies._risk_groups import RiskGroups, SummedTask, follow_up_end, risk_groups
    from accord.studies._simulated_sites import Observer, share_cache, simulate_sites
    from accord.studies._simulation import NetworkFactory, Options, Simulation, run_study
    from accord.studies._specs import BUILTIN_STUDIES, builtin_study, resolve_study
    from accord.studies._stopping import RunStopped
    from accord.studies._view import ConsortiumView, SiteReport
    from accord.studies._workspace import SiteConfig, init_workspace, open_workspace, resolve_hub

_HOMES = {
    "BUILTIN_STUDIES": "_specs",  # the study schemas: pydantic
    "builtin_study": "_specs",
    "resolve_study": "_specs",
    "admit_member": "_membership",
    "found_consortium": "_membership",
    "removal_payload": "_membership",
    "remove_member": "_membership",
    "Checkpoint": "_checkpoints",
    "Coefficient": "_coefficients",
    "Consortium": "_consortium",
    "ConsortiumView": "_view",
    "Comparison": "_outcome",
    "Convergence": "_outcome",
    "ExportedImage": "_outcome",
    "Founding": "_membership",
    "HUB_ORG": "_audit",
    "LedgerFigures": "_ledger_results",
    "MethodResult": "_outcome",
    "ModelCard": "_model_files",
    "NetworkFactory": "_simulation",
    "Observer": "_simulated_sites",
    "Options": "_simulation",
    "POOLED_NOTE": "_deployed",
    "PlanCheckpoints": "_checkpoints",
    "Planner": "_planning",
    "Prediction": "_predict",
    "PretrainSettings": "_pretrain",
    "Progress": "_federated_run",
    "RESEARCHER_ORG": "_audit",
    "RiskGroups": "_risk_groups",
    "RunLedger": "_audit",
    "RunStopped": "_stopping",
    "Simulation": "_simulation",
    "SimulationReferences": "_references",
    "SiteConfig": "_workspace",
    "SiteReport": "_view",
    "StudyRun": "_federated_run",
    "SummedTask": "_risk_groups",
    "TRUTH_FILE": "_oracle",
    "clinical_variant": "_federated_run",
    "dataset_payload": "_audit",
    "federated_simclr": "_pretrain",
    "follow_up_end": "_risk_groups",
    "init_workspace": "_workspace",
    "ledger_results": "_ledger_results",
    "open_workspace": "_workspace",
    "oracle_result": "_oracle",
    "planned_epsilon": "_planning",
    "predict_file": "_predict",
    "predict_rows": "_predict",
    "read_model_card": "_model_files",
    "resolve_hub": "_workspace",
    "results_document": "_results",
    "risk_groups": "_risk_groups",
    "run_federated": "_deployed",
    "run_ids": "_ledger_results",
    "run_study": "_simulation",
    "sample_tiles": "_pretrain",
    "share_cache": "_simulated_sites",
    "simulate_sites": "_simulated_sites",
    "write_bytes_atomic": "_jsonio",
    "write_json_atomic": "_jsonio",
    "build_report": "_report_writer",
    "write_ledger_report": "_report_writer",
    "write_model_files": "_model_files",
    "write_report": "_report_writer",
}

__all__ = [
    "BUILTIN_STUDIES",
    "HUB_ORG",
    "POOLED_NOTE",
    "RESEARCHER_ORG",
    "TRUTH_FILE",
    "Checkpoint",
    "Coefficient",
    "Comparison",
    "Consortium",
    "ConsortiumView",
    "Convergence",
    "ExportedImage",
    "Founding",
    "LedgerFigures",
    "MethodResult",
    "ModelCard",
    "NetworkFactory",
    "Observer",
    "Options",
    "PlanCheckpoints",
    "Planner",
    "Prediction",
    "PretrainSettings",
    "Progress",
    "RiskGroups",
    "RunLedger",
    "RunStopped",
    "Simulation",
    "SimulationReferences",
    "SiteConfig",
    "SiteReport",
    "StudyRun",
    "SummedTask",
    "admit_member",
    "build_report",
    "builtin_study",
    "clinical_variant",
    "dataset_payload",
    "federated_simclr",
    "follow_up_end",
    "found_consortium",
    "init_workspace",
    "ledger_results",
    "open_workspace",
    "oracle_result",
    "planned_epsilon",
    "predict_file",
    "predict_rows",
    "read_model_card",
    "removal_payload",
    "remove_member",
    "resolve_hub",
    "resolve_study",
    "results_document",
    "risk_groups",
    "run_federated",
    "run_ids",
    "run_study",
    "sample_tiles",
    "share_cache",
    "simulate_sites",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_ledger_report",
    "write_model_files",
    "write_report",
]

__getattr__ = lazy_face(__name__, _HOMES)
