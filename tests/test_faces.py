"""Package faces, as in httpx: each package's ``__all__`` is its public surface, pinned here.

Modules behind a face are private (``_name``); code in one package imports another only
through its face. Changing a face is a decision: update ``FACES`` in the same change.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import accord

SRC = Path(__file__).resolve().parents[1] / "src"
PUBLIC_MODULES = {
    "accord.__main__",  # python -m accord
    "accord.survival.losses",  # torch: outside the survival face, so the hub never loads it
}
LAZY = ("accord.studies", "accord.services")

FACES: dict[str, list[str]] = {
    "accord": ["__version__"],
    "accord.cli": ["app", "main"],
    "accord.core": [
        "AccordError",
        "AggregationError",
        "Arrays",
        "AuthError",
        "CohortSpec",
        "ConfigError",
        "ConvergenceError",
        "DataError",
        "EquivocationError",
        "EvaluationSpec",
        "FeatureKind",
        "KeyFileError",
        "LedgerError",
        "MAX_JSON_DEPTH",
        "MAX_JSON_INT",
        "MIL_KINDS",
        "ModelSpec",
        "PolicyError",
        "PreprocessingSpec",
        "PrivacyError",
        "PrivacySpec",
        "Signer",
        "SlideReadError",
        "StudySpec",
        "TrainingSpec",
        "TransportError",
        "canonical_json",
        "check_keys",
        "decode_arrays",
        "did_you_mean",
        "encode_arrays",
        "floats_as_strings",
        "format_rows",
        "load_json",
        "load_json_file",
        "load_study",
        "load_toml",
        "new_id",
        "sha256_hex",
        "validation_message",
        "write_bytes_atomic",
    ],
    "accord.crypto": [
        "CERT_REVOKE",
        "DEFAULT_CERT_DAYS",
        "Identity",
        "KEY_FORMAT",
        "ORG_PATTERN",
        "PASSPHRASE_ENV",
        "PeerCertificate",
        "PublicIdentity",
        "Signer",
        "TLSFiles",
        "authenticate_peer",
        "check_insecure_bind",
        "check_peer",
        "client_context",
        "describe_certificate",
        "enroll",
        "init_ca",
        "key_id_of",
        "key_paths",
        "load_ca_certificate",
        "load_certificate",
        "load_identity",
        "load_public",
        "new_identity",
        "renew",
        "revocation_payload",
        "revoked_serials",
        "save_identity",
        "server_context",
        "sign_request",
    ],
    "accord.crypto.secagg": [
        "Advertisement",
        "Quantizer",
        "SecAggClient",
        "SecAggConfig",
        "SecAggServer",
        "SurvivorList",
        "UnmaskRequest",
        "expand",
        "neighbours",
        "pack_bytes_map",
        "threshold_floor",
        "unpack_bytes_map",
    ],
    "accord.data": [
        "Cohort",
        "Preprocessor",
        "SiteCohort",
        "Vocabulary",
        "add_arrays",
        "consortium_vocabulary",
        "feature_levels",
        "feature_spread",
        "feature_sums",
        "fit_preprocessor",
        "load_cohort",
        "pool_sites",
        "pooled_means",
        "validate_cohort",
        "validate_site_table",
    ],
    "accord.fl": [
        "DPSettings",
        "Exchange",
        "ExpectSecure",
        "GROUPS",
        "Handler",
        "Hub",
        "InMemoryTransport",
        "LedgerRecorder",
        "Middleware",
        "Plan",
        "PlanBook",
        "PolicyCheck",
        "Recorder",
        "RoundLog",
        "SecAggRound",
        "SecurePlan",
        "SecureSettings",
        "Site",
        "SiteContext",
        "SiteGovernance",
        "TaskConfig",
        "TaskContent",
        "WeightedSum",
        "cindex_interval",
        "coarsen_counts",
        "current_key",
        "expect_from_plans",
        "histogram_grid",
        "histogram_median",
        "plan_task_config",
        "round_secagg",
        "secure_aggregation_middleware",
        "secure_round",
        "site_middleware",
        "sum_contributions",
        "suppress_small",
        "time_grid",
    ],
    "accord.fl.governance": [
        "DATASET_DISABLED",
        "DATASET_REGISTERED",
        "DATASET_UPDATED",
        "Dataset",
        "Decision",
        "FUNCTION_APPROVED",
        "FUNCTION_REGISTERED",
        "FUNCTION_REJECTED",
        "Function",
        "GovernanceView",
        "MODALITIES",
        "MODEL_REGISTERED",
        "Modality",
        "Model",
        "PLAN_SUBMITTED",
        "SITE_ENTRY_POINTS",
        "SiteInstall",
        "SitePolicy",
        "SubmittedPlan",
        "archive_diff",
        "archive_hash",
        "archive_summary",
        "can_download",
        "can_process",
        "check_task",
        "function_archive",
        "function_hash",
        "load_site_policy",
        "model_permissions",
        "parse_site_policy",
        "plan_entry_fields",
        "site_code",
    ],
    "accord.fl.strategies": [
        "Cyclic",
        "FedAdagrad",
        "FedAdam",
        "FedAvg",
        "FedProx",
        "FedYogi",
        "GlobalState",
        "Instruction",
        "NewtonRaphson",
        "STRATEGIES",
        "Scaffold",
        "SiteInfo",
        "Strategy",
        "TrainingHyperparameters",
        "build_strategy",
    ],
    "accord.fl.tasks": ["CACHE_KEY", "SITE_HANDLERS"],
    "accord.ledger": [
        "Anchor",
        "EVIDENCE_DIR",
        "Entry",
        "EquivocationEvidence",
        "GENESIS",
        "HubLedger",
        "HubLog",
        "KEY_REVOKE",
        "KEY_ROTATE",
        "KeyRegistry",
        "LedgerStore",
        "LedgerWriter",
        "LogSource",
        "Receipt",
        "SCHEMA_NAME",
        "SQLiteLedgerStore",
        "SignedEntry",
        "SignedReceipt",
        "Signer",
        "SiteReplica",
        "StoredCheckpoint",
        "StoredCosignature",
        "StoredEntry",
        "Verifier",
        "VerifyReport",
        "anchor_of",
        "checkpoint_from_json",
        "checkpoint_to_json",
        "compare_logs",
        "cosignature_from_json",
        "cosignature_to_json",
        "decimal",
        "entry_from_json",
        "entry_to_json",
        "export_bundle",
        "find_evidence",
        "genesis_payload",
        "is_postgres",
        "leaf_hash",
        "load_anchor",
        "load_evidence",
        "open_source",
        "pg_connect",
        "pg_describe",
        "pg_reason",
        "receipt_from_json",
        "receipt_to_json",
        "sign_entry",
        "utc_now",
        "verify_inclusion",
        "verify_log",
        "verify_signature",
        "write_anchor",
        "write_evidence",
    ],
    "accord.models": [
        "LinearCox",
        "LocalTrainingConfig",
        "LocalTrainingResult",
        "MLPCox",
        "build_model",
        "extract_features",
        "get_arrays",
        "set_arrays",
        "train_local",
    ],
    "accord.models.extractors": [
        "EXTRACTORS",
        "FEATURE_NAMES",
        "FeatureExtractor",
        "HistomorphometryExtractor",
        "OnnxExtractor",
        "Preprocessing",
        "TorchScriptExtractor",
        "build_extractor",
        "load_preprocessing",
        "preprocess",
        "preprocessing_path",
    ],
    "accord.models.mil": [
        "Chowder",
        "ClinicalOnly",
        "CoxLoss",
        "DiscreteTimeHead",
        "DiscreteTimeLoss",
        "DiscreteTimeMIL",
        "Ensemble",
        "GatedAttentionMIL",
        "LateFusion",
        "MILBatch",
        "MILModel",
        "MILResult",
        "MIL_MODELS",
        "MeanPoolMIL",
        "SurvivalLoss",
        "TileScorer",
        "build_mil",
        "discrete_time_nll",
        "extreme_scores",
        "interval_edges",
        "interval_index",
        "pad_bags",
        "predict_risk",
        "risk_from_output",
        "risk_orientation",
        "tile_scores",
        "train_mil_local",
    ],
    "accord.models.ssl": [
        "MEAN",
        "ProjectionHead",
        "SSLResult",
        "STD",
        "SimCLRModel",
        "TileEncoder",
        "build_simclr",
        "export_encoder",
        "nt_xent_loss",
        "preprocessing_path",
        "simclr_views",
        "train_simclr_local",
    ],
    "accord.net": [
        "ConfigValue",
        "DEFAULT_LIMITS",
        "Dropout",
        "LEDGER_SYNC",
        "Limits",
        "LockedHubLedger",
        "QueueStore",
        "QueueTransport",
        "RemoteHub",
        "RemoteLedger",
        "Reply",
        "SITE_HEADER",
        "SQLiteQueueStore",
        "SiteClient",
        "SiteEndpoint",
        "Task",
        "TaskKind",
        "TaskQueue",
        "Transport",
        "authenticate_certificate",
        "authenticate_site_header",
        "create_app",
        "ledger_router",
        "peer_certificate",
        "serve",
        "start_in_thread",
    ],
    "accord.privacy": [
        "DPTrainingResult",
        "DP_ACCOUNTING_RDP",
        "LossFn",
        "OPACUS_RDP",
        "PrivacyBudget",
        "PrivacySpent",
        "SUPPRESSED",
        "clip_update",
        "dpsgd_epsilon",
        "gaussian_mechanism_epsilon",
        "most_conservative",
        "noise_aggregate",
        "noise_for_epsilon",
        "site_noise_share",
        "suppress_small_counts",
        "train_dpsgd",
    ],
    "accord.report": [
        "COLORMAPS",
        "Figure",
        "Report",
        "Series",
        "apply_colormap",
        "bar_chart_with_ci",
        "format_p_value",
        "group_curves",
        "heatmap_overlay",
        "km_figure",
        "km_figure_from_counts",
        "km_figure_from_curves",
        "line_chart",
        "png_data_uri",
        "step_chart",
        "tile_gallery",
    ],
    "accord.services": [
        "HubConfig",
        "HubService",
        "LoopbackConsortium",
        "SiteService",
        "SiteServiceConfig",
        "TLSPaths",
        "decide_remote",
        "issue_certificates",
        "load_study_ref",
        "policy_toml",
        "prepare_hub_process",
        "read_hub_config",
        "read_service_config",
        "remote_governance",
        "serve_hub",
        "serve_site",
        "spawn",
        "start_loopback",
        "stop_processes",
        "write_site_config",
    ],
    "accord.studies": [
        "BUILTIN_STUDIES",
        "Checkpoint",
        "Consortium",
        "ConsortiumView",
        "ExportedImage",
        "HUB_ORG",
        "MethodResult",
        "NetworkFactory",
        "Observer",
        "Options",
        "PlanCheckpoints",
        "Planner",
        "PretrainSettings",
        "Progress",
        "RESEARCHER_ORG",
        "RiskGroups",
        "RunLedger",
        "Simulation",
        "SimulationReferences",
        "SiteConfig",
        "SiteReport",
        "StudyRun",
        "SummedTask",
        "TRUTH_FILE",
        "builtin_study",
        "dataset_payload",
        "federated_simclr",
        "follow_up_end",
        "init_workspace",
        "open_workspace",
        "oracle_result",
        "planned_epsilon",
        "resolve_hub",
        "resolve_study",
        "results_document",
        "risk_groups",
        "run_study",
        "sample_tiles",
        "share_cache",
        "simulate_sites",
        "write_bytes_atomic",
        "write_json_atomic",
        "write_report",
    ],
    "accord.survival": [
        "BaselineHazard",
        "ConcordanceCounts",
        "CoxDerivatives",
        "Interval",
        "KaplanMeierCurve",
        "LogRankResult",
        "TimeDependentAUC",
        "bootstrap_interval",
        "breslow_baseline_hazard",
        "brier_score",
        "censoring_survival",
        "concordance_counts",
        "cox_derivatives",
        "harrell_c",
        "integrated_brier_score",
        "kaplan_meier",
        "kaplan_meier_from_counts",
        "logrank_from_counts",
        "logrank_test",
        "time_dependent_auc",
        "uno_c",
    ],
    "accord.synth": [
        "HCCConsortium",
        "HOSPITAL_PROFILES",
        "PATTERNS",
        "StainProfile",
        "SyntheticSlide",
        "generate_hcc_consortium",
        "paint_region",
        "render_he",
        "simulate_clinical",
        "write_cohort_slides",
        "write_slide",
    ],
    "accord.wsi": [
        "BatchReport",
        "COLORMAPS",
        "FeatureCache",
        "LevelInfo",
        "MacenkoNormaliser",
        "ReinhardNormaliser",
        "SlideFeatures",
        "SlideInfo",
        "SlideReader",
        "StainNormaliser",
        "Tile",
        "TilingParams",
        "TissueMask",
        "apply_colormap",
        "detect_tissue",
        "for_each_slide",
        "heatmap_overlay",
        "open_slide",
        "png_data_uri",
        "qc_thumbnail",
        "read_tiles",
        "slide_hash",
        "tile_gallery",
        "tile_grid",
        "tissue_mask",
    ],
}


def _packages() -> list[str]:
    found = [m.name for m in pkgutil.walk_packages(accord.__path__, "accord.") if m.ispkg]
    return sorted(["accord", *found])


def test_every_package_face_is_pinned() -> None:
    assert _packages() == sorted(FACES)
    for name in _packages():
        package = importlib.import_module(name)
        face = getattr(package, "__all__", None)
        assert face is not None, f"{name} has no __all__"
        assert sorted(face) == FACES[name], f"the face of {name} changed"
        assert len(face) == len(set(face)), f"{name}: a name twice in __all__"


@pytest.mark.parametrize("name", sorted(FACES))
def test_every_name_of_a_face_resolves(name: str) -> None:
    package = importlib.import_module(name)
    missing = [attribute for attribute in FACES[name] if not hasattr(package, attribute)]
    assert missing == []


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "accord").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def test_modules_behind_a_face_are_private() -> None:
    public = [
        name
        for name, path in _modules().items()
        if path.name != "__init__.py"
        and not name.rpartition(".")[2].startswith("_")
        and name not in PUBLIC_MODULES
    ]
    assert public == []


def _top(name: str) -> str:
    return ".".join(name.split(".")[:2])


def test_no_package_imports_the_private_modules_of_another() -> None:
    strays = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("accord.")):
                continue
            module = node.module or ""
            private = any(part.startswith("_") for part in module.split(".")[1:])
            names = [a.name for a in node.names if a.name.startswith("_")]
            if (private or names) and _top(module) != _top(name) and module != "accord._lazy_face":
                strays.append(f"{name} imports {module} {names or ''}")
    assert strays == []


@pytest.mark.parametrize("name", LAZY)
def test_a_lazy_face_names_each_home_once_and_for_type_checkers_too(name: str) -> None:
    package = importlib.import_module(name)
    path = Path(package.__file__ or "")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for child in node.body:
                assert isinstance(child, ast.ImportFrom)
                for alias in child.names:
                    typed[alias.name] = (child.module or "").rpartition(".")[2]
    homes = package._HOMES
    assert typed == homes
    assert set(homes) <= set(package.__all__)
    for attribute, home in homes.items():
        module = importlib.import_module(f"{name}.{home}")
        assert getattr(package, attribute) is getattr(module, attribute)
