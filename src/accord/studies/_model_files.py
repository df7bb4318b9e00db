"""Model files: each trained model of a run as ``OUT/models/NAME.safetensors`` plus a card.

The weights file holds the model's named arrays exactly as they crossed the seam
(:func:`accord.core.encode_arrays` of the final parameters), so its SHA-256 is the
``output_hash`` of the hub's last ``aggregation`` entry of the model's plan and the
``model`` of its ``model.registered`` entry: the card cites both seqs and an auditor can
check the file against the ledger. The card (``NAME.card.json``) says what a site needs to
apply the model to new rows (``accord predict``): the input features and the design
columns in order, the full preprocessing document, the model kind and config, loss and
time bins, and where the model comes from (strategy and its settings, rounds, study name
and config hash, seed, accord version).

Written for the study's federated model, its clinical-only baseline and the pooled
reference (``"simulation_only": true``: it needs every row in one place). Local-only
models never leave their site, so they have no file. A deployed hub writes the models it
aggregated the same way (it holds their parameters already; no row is needed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import accord
from accord.core import (
    MIL_KINDS,
    ConfigError,
    ModelSpec,
    StudySpec,
    encode_arrays,
    load_json_file,
    sha256_hex,
    write_bytes_atomic,
)
from accord.data import Preprocessor
from accord.ledger import Entry
from accord.studies._federated_run import StudyRun, clinical_variant
from accord.studies._jsonio import write_json_atomic
from accord.studies._outcome import MethodResult

__all__ = ["CARD_FORMAT", "ModelCard", "read_model_card", "write_model_files"]

CARD_FORMAT = "accord-model-card/1"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_OUTPUT = {
    "cox": "risk_score: the model's linear predictor, the log relative hazard; higher means "
    "shorter survival",
    "logistic_hazard": "risk_score: the model's risk score, added to every interval's "
    "baseline hazard logit; higher means shorter survival",
}


def _method_study(study: StudySpec, method: str) -> tuple[StudySpec, bool] | None:
    """The study a method's model was trained with, and whether it is simulation-only;
    None for a method with no model file (local-only, unknown methods)."""
    if method == study.training.strategy:
        return study, False
    if method == "clinical_only":
        return clinical_variant(study), False
    if method == "pooled":  # as SimulationReferences trains it: FedAvg unless Newton-Raphson
        if study.training.strategy != "newton_raphson":
            training = study.training.model_copy(update={"strategy": "fedavg"})
            study = study.model_copy(update={"training": training})
        return study, True
    return None


def _ledger_citation(run: StudyRun, result: MethodResult, digest: str) -> dict[str, Any]:
    """The ledger entries behind the model: its plan, the aggregation that produced these
    exact weights and the hub's registration of them (each where the ledger has one)."""
    if run.audit is None:
        return {}
    store = run.audit.ledger.store
    cited: dict[str, Any] = {"log_id": run.audit.ledger.log_id}
    seq = result.ledger.get("plan_seq")
    if seq is None:
        return cited
    cited["plan_seq"] = seq
    plan = next((Entry.parse(s.entry).payload.get("plan") for s in store.read(seq, seq + 1)), None)
    if not isinstance(plan, str):
        return cited
    for kind, field, key in (
        ("aggregation", "output_hash", "aggregation_seq"),
        ("model.registered", "model", "model_seq"),
    ):
        for stored in store.find(kind=kind, plan=plan):
            if Entry.parse(stored.entry).payload.get(field) == digest:
                cited[key] = stored.seq  # the last entry of the plan with these weights
    return cited


def _card(
    run: StudyRun, result: MethodResult, study: StudySpec, simulation_only: bool, weights: str
) -> dict[str, Any]:
    digest_file = f"{weights}.safetensors"
    data = encode_arrays(result.params)
    digest = sha256_hex(data)
    model = study.model
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "name": result.method,
        "simulation_only": simulation_only,
        "study": run.study.study.name,
        "config_hash": run.study.config_hash(),
        "seed": run.seed,
        "accord_version": accord.__version__,
        "task": run.study.study.task,
        "features": list(run.preprocessor.kinds),
        "columns": list(run.preprocessor.columns),
        "id_column": run.study.cohort.id_column,
        "preprocessing": run.preprocessor.to_dict(),
        "model": {
            "kind": model.kind,
            "config": model.model_dump(mode="json"),
            "loss": model.loss,
            "time_bins_days": list(model.time_bins_days) if model.loss != "cox" else None,
            "feature_dim": run.view.feature_dim if model.kind in MIL_KINDS else None,
        },
        "output": _OUTPUT[model.loss],
        "strategy": {
            "name": study.training.strategy,
            "settings": study.training.model_dump(mode="json"),
        },
        "rounds": result.rounds,
        "trained_on": list(result.trained_on),
        "excluded_sites": result.excluded,  # site -> {"round R" | "evaluation": reason}
        "weights": {
            "file": digest_file,
            "sha256": digest,
            "arrays": {k: list(v.shape) for k, v in sorted(result.params.items())},
        },
        "ledger": _ledger_citation(run, result, digest),
    }
    return card


def write_model_files(
    run: StudyRun, results: Sequence[MethodResult], out: Path
) -> dict[str, dict[str, str]]:
    """Write ``out/models/NAME.safetensors`` and ``NAME.card.json`` for every result with
    a model (write-then-rename); call it while the run's ledger is open.

    Returns, per method, the paths relative to ``out`` and the weights' SHA-256 (what
    results.json lists under ``models``).
    """
    written: dict[str, dict[str, str]] = {}
    folder = out / "models"
    for result in results:
        found = _method_study(run.study, result.method)
        if found is None or result.error or not result.params:
            continue
        study, simulation_only = found
        name = _SAFE_NAME.sub("_", result.method)
        card = _card(run, result, study, simulation_only, name)
        write_bytes_atomic(folder / f"{name}.safetensors", encode_arrays(result.params))
        write_json_atomic(folder / f"{name}.card.json", card)
        written[result.method] = {
            "card": f"models/{name}.card.json",
            "weights": f"models/{name}.safetensors",
            "sha256": card["weights"]["sha256"],
        }
    return written


@dataclass(frozen=True)
class ModelCard:
    """A checked model card: where its weights are and how to encode rows for it."""

    path: Path
    weights_path: Path
    name: str
    model: ModelSpec
    preprocessor: Preprocessor
    id_column: str | None
    feature_dim: int | None
    sha256: str
    document: Mapping[str, Any]


def _field(card: Mapping[str, Any], path: Path, *keys: str) -> Any:
    value: Any = card
    for i, key in enumerate(keys):
        if not isinstance(value, Mapping) or key not in value:
            raise ConfigError(f"{path}: field '{'.'.join(keys[: i + 1])}' is missing")
        value = value[key]
    return value


def read_model_card(model: Path) -> ModelCard:
    """The card of ``model`` (``NAME.card.json`` or ``NAME.safetensors`` beside it),
    checked: its format and fields, its preprocessing document, and the weights file's
    SHA-256 against the card's. Raises ConfigError naming the file and field."""
    path = model
    if model.name.endswith(".safetensors"):
        path = model.with_name(model.name[: -len(".safetensors")] + ".card.json")
    if not path.is_file():
        raise ConfigError(f"{model}: no model card (expected {path.name} beside the weights)")
    card = load_json_file(path, ConfigError, "a model card (JSON)")
    if not isinstance(card, Mapping) or card.get("format") != CARD_FORMAT:
        raise ConfigError(f"{path}: field 'format' is not '{CARD_FORMAT}'; not a model card")
    try:
        spec = ModelSpec.model_validate(_field(card, path, "model", "config"))
    except ValueError:
        raise ConfigError(f"{path}: field 'model.config' is not a valid [model]") from None
    try:
        preprocessor = Preprocessor.from_dict(_field(card, path, "preprocessing"))
    except ConfigError as exc:
        raise ConfigError(f"{path}: field 'preprocessing': {exc}") from None
    if list(_field(card, path, "columns")) != list(preprocessor.columns):
        raise ConfigError(f"{path}: field 'columns' differs from the preprocessing's columns")
    weights = path.parent / str(_field(card, path, "weights", "file"))
    expected = str(_field(card, path, "weights", "sha256"))
    if weights.parent != path.parent or not weights.is_file():
        raise ConfigError(f"{path}: weights file '{weights.name}' not found beside the card")
    if sha256_hex(weights.read_bytes()) != expected:
        raise ConfigError(
            f"{weights}: its SHA-256 differs from the card's 'weights.sha256' (the file was "
            "changed, or belongs to another card)"
        )
    dim = _field(card, path, "model").get("feature_dim")
    id_column = card.get("id_column")
    return ModelCard(
        path=path,
        weights_path=weights,
        name=str(_field(card, path, "name")),
        model=spec,
        preprocessor=preprocessor,
        id_column=str(id_column) if id_column else None,
        feature_dim=int(dim) if dim is not None else None,
        sha256=expected,
        document=card,
    )
