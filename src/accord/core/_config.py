"""Study configuration: one TOML file parsed at the edge into frozen pydantic models.

Inside the library pass :class:`StudySpec` objects, never raw dicts. The study's hash
(:meth:`StudySpec.config_hash`) is what the ledger and every results file record.
"""

from __future__ import annotations

import tomllib
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from accord.core._errors import ConfigError, MissingFileError
from accord.core._hashing import canonical_json, floats_as_strings, sha256_hex
from accord.core._suggest import validation_message
from accord.core._toml import load_toml

__all__ = [
    "DEFAULT_TIME_BINS_DAYS",
    "MIL_KINDS",
    "CohortSpec",
    "EvaluationSpec",
    "FeatureKind",
    "ModelSpec",
    "PathologySpec",
    "PreprocessingSpec",
    "PrivacySpec",
    "StudyMeta",
    "StudySpec",
    "TrainingSpec",
    "dp_refusal",
    "load_study",
    "parse_study",
]

FeatureKind = Literal["numeric", "log_numeric", "categorical", "binary"]
TimeUnit = Literal["days", "weeks", "months", "years"]
MIL_KINDS = ("chowder", "abmil", "meanpool")
StrategyName = Literal[
    "fedavg",
    "fedprox",
    "scaffold",
    "fedadam",
    "fedyogi",
    "fedadagrad",
    "cyclic",
    "newton_raphson",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StudyMeta(_Frozen):
    name: str = Field(min_length=1)
    task: Literal["survival"] = "survival"
    description: str = ""


class CohortSpec(_Frozen):
    """Where a cohort's rows are and what each column means.

    ``source = "table"`` reads ``files`` (CSV or Parquet, relative to the data folder):
    either one file with a ``site_column`` or one file per site given in ``sites``.
    ``source = "site-folders"``: every sub-folder of the data folder holding ``table`` is a
    site (its name is the site id). ``slide_column`` names each patient's slide file,
    relative to the table's folder. ``log_numeric`` features enter as log(1 + x).
    Other sources are built-in adapters that shape a public dataset into such a table.
    """

    source: Literal["table", "site-folders", "flamby-tcga-brca", "lifelines-lung"] = "table"
    files: tuple[str, ...] = ()
    sites: dict[str, str] = Field(default_factory=dict)
    site_column: str | None = None
    id_column: str | None = None
    time_column: str = "time"
    event_column: str = "event"
    time_unit: TimeUnit = "days"
    split_column: str | None = None
    test_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    features: dict[str, FeatureKind] = Field(min_length=1)
    site_groups: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    slide_column: str | None = None
    table: str = "clinical.csv"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def feature_order(self) -> tuple[str, ...]:
        """The features in the order the study gives them: the model's column order.

        Part of every dump (and so of the config hash and a function's archive), because
        canonical JSON sorts a mapping's keys: a study rebuilt from an archive (a deployed
        site's, a deployed hub's) keeps its columns in the order the researcher wrote.
        """
        return tuple(self.features)

    @model_validator(mode="before")
    @classmethod
    def _ordered(cls, data: Any) -> Any:
        """A dump's ``feature_order`` puts ``features`` back in that order."""
        if not isinstance(data, dict) or "feature_order" not in data:
            return data
        data = dict(data)
        order, features = data.pop("feature_order"), data.get("features")
        if not (
            isinstance(order, list | tuple)
            and isinstance(features, dict)
            and sorted(order) == sorted(features)
        ):
            raise ValueError("'feature_order' must name each of 'features' once")
        data["features"] = {name: features[name] for name in order}
        return data

    @model_validator(mode="after")
    def _one_layout(self) -> CohortSpec:
        if self.source == "table":
            if not self.files and not self.sites:
                raise ValueError("give 'files' (one table with site_column) or 'sites'")
            if self.files and self.sites:
                raise ValueError("give either 'files' or 'sites', not both")
            if self.files and self.site_column is None:
                raise ValueError("'site_column' is required when sites share one file")
        return self


class PathologySpec(_Frozen):
    """How each site turns its slides into tile features (runs at the site)."""

    extractor: Literal["histomorphometry", "torchscript", "onnx"] = "histomorphometry"
    model_path: str | None = None
    mpp: float = Field(default=0.5, gt=0.0)
    tile_px: int = Field(default=224, ge=16)
    min_tissue: float = Field(default=0.5, ge=0.0, le=1.0)
    max_tiles: int = Field(default=128, ge=1)
    slide_mpp: float | None = Field(default=None, gt=0.0)


class PreprocessingSpec(_Frozen):
    standardise: bool = True
    min_cell_count: int = Field(default=5, ge=1)
    missing: Literal["error", "impute_mean"] = "error"


DEFAULT_TIME_BINS_DAYS = (182.5, 365.0, 730.0, 1095.0, 1460.0, 1825.0, 2555.0, 3650.0)
"""Cut points of the discrete-time (logistic-hazard) loss: fixed in the study, never taken
from the data (quantiles of event times would be a release of their own)."""


class ModelSpec(_Frozen):
    """``linear_cox``/``mlp_cox`` on clinical features; ``chowder``, ``abmil`` and
    ``meanpool`` are multiple-instance models on each patient's tile features (late fusion
    with the clinical features).

    ``loss = "cox"`` trains the risk score with the Cox partial likelihood;
    ``"logistic_hazard"`` with the discrete-time survival likelihood over the intervals cut
    at ``time_bins_days`` (a per-interval baseline logit plus the risk score): each
    patient's term depends on that patient's row alone, the loss DP-SGD needs."""

    kind: Literal["linear_cox", "mlp_cox", "chowder", "abmil", "meanpool"] = "linear_cox"
    hidden: tuple[int, ...] = (32,)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    ties: Literal["breslow", "efron"] = "efron"
    l2: float = Field(default=0.0, ge=0.0)
    loss: Literal["cox", "logistic_hazard"] = "cox"
    time_bins_days: tuple[float, ...] = Field(default=DEFAULT_TIME_BINS_DAYS, min_length=1)

    @model_validator(mode="after")
    def _increasing_bins(self) -> ModelSpec:
        bins = self.time_bins_days
        if any(b <= 0 for b in bins) or any(b >= c for b, c in pairwise(bins)):
            raise ValueError("'time_bins_days' must be positive and strictly increasing")
        if self.loss == "logistic_hazard" and self.kind in MIL_KINDS:
            raise ValueError(
                f"loss 'logistic_hazard' trains linear_cox or mlp_cox risk scores; "
                f"model kind '{self.kind}' trains with the Cox loss"
            )
        return self


class TrainingSpec(_Frozen):
    strategy: StrategyName = "fedavg"
    rounds: int = Field(default=10, ge=1)
    local_steps: int = Field(default=100, ge=1)
    batch_size: int = Field(default=8, ge=2)
    lr: float = Field(default=0.1, gt=0.0)
    optimizer: Literal["sgd", "adam"] = "sgd"
    server_lr: float = Field(default=1.0, gt=0.0)
    mu: float = Field(default=0.01, ge=0.0)
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0)
    beta2: float = Field(default=0.99, ge=0.0, lt=1.0)
    tau: float = Field(default=1e-3, gt=0.0)
    tol: float = Field(default=1e-9, gt=0.0)
    baselines: tuple[Literal["clinical_only", "pooled", "local"], ...] = ("pooled", "local")


class PrivacySpec(_Frozen):
    """Secure aggregation and differential privacy settings of a study.

    ``secure_aggregation = "auto"`` turns it on whenever more than two sites take part;
    every summed value must lie within ±``secagg_clip`` and is summed in fixed point with
    ``secagg_fraction_bits`` bits after the binary point (quantum 2^-bits).
    ``dp = "dpsgd"`` trains each site with patient-level DP-SGD (Opacus) to ``epsilon`` at
    ``delta``; ``dp = "dpfedavg"`` clips each site's update to ``clip_norm`` and adds
    discrete Gaussian noise (``noise_multiplier``, or the σ that reaches ``epsilon``) in
    secure aggregation's integer domain. Which study settings each mechanism is valid for
    is checked by :class:`StudySpec` (see docs/privacy.md).
    """

    secure_aggregation: Literal["auto", "on", "off"] = "auto"
    secagg_clip: float = Field(default=1e12, gt=0.0)
    secagg_fraction_bits: int = Field(default=40, ge=0, le=64)
    secagg_neighbours: int | None = Field(default=None, ge=2)
    secagg_threshold: float = Field(default=0.67, gt=0.5, le=1.0)
    dp: Literal["none", "dpsgd", "dpfedavg"] = "none"
    epsilon: float | None = Field(default=None, gt=0.0)
    delta: float = Field(default=1e-5, gt=0.0, lt=1.0)
    max_grad_norm: float = Field(default=1.0, gt=0.0)
    noise_multiplier: float | None = Field(default=None, gt=0.0)
    clip_norm: float = Field(default=1.0, gt=0.0)

    def secure_for(self, n_sites: int) -> bool:
        """Whether secure aggregation runs for a round with ``n_sites`` contributors."""
        if self.secure_aggregation == "auto":
            return n_sites > 2
        return self.secure_aggregation == "on"


class EvaluationSpec(_Frozen):
    bootstrap: int = Field(default=200, ge=0)
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    horizons_days: tuple[float, ...] = ()


class StudySpec(_Frozen):
    study: StudyMeta
    cohort: CohortSpec
    preprocessing: PreprocessingSpec = PreprocessingSpec()
    model: ModelSpec = ModelSpec()
    training: TrainingSpec = TrainingSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    privacy: PrivacySpec = PrivacySpec()
    pathology: PathologySpec = PathologySpec()

    @model_validator(mode="after")
    def _valid_mechanism(self) -> StudySpec:
        if self.model.loss == "logistic_hazard" and self.training.strategy == "newton_raphson":
            raise ValueError(
                "strategy 'newton_raphson' fits the Cox partial likelihood; "
                "model.loss 'logistic_hazard' trains by gradient descent (e.g. fedavg)"
            )
        reason = dp_refusal(self)
        if reason is not None:
            raise ValueError(reason)
        return self

    @property
    def uses_slides(self) -> bool:
        return self.model.kind in MIL_KINDS

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of this config (floats as their repr strings)."""
        return sha256_hex(canonical_json(floats_as_strings(self.model_dump(mode="json"))))


_NO_DPSGD = {
    "newton_raphson": "Newton-Raphson releases each site's exact gradient and Hessian, "
    "which no DP mechanism here noises",
    "scaffold": "SCAFFOLD's control variates leave the site without noise",
    "fedprox": "DP-SGD has no proximal term yet",
}
_NO_DPFEDAVG = {
    "newton_raphson": "Newton-Raphson releases each site's exact gradient and Hessian, "
    "which no DP mechanism here noises",
    "scaffold": "SCAFFOLD's control variates leave the site without noise",
    "cyclic": "cyclic training passes each site's model on unsummed",
}


def dp_refusal(study: StudySpec) -> str | None:
    """Why ``study``'s DP setting has no valid mechanism (None when it has one).

    A DP claim is made only where the mechanism proves it (docs/privacy.md): DP-SGD's
    per-row clipping bounds one patient's influence only when the loss is a sum of
    per-patient terms, and DP-FedAvg noises a clipped update, not a Newton step.
    """
    privacy, training, model = study.privacy, study.training, study.model
    if privacy.dp == "none":
        return None
    where = f"privacy.dp = '{privacy.dp}'"
    if privacy.epsilon is None and privacy.noise_multiplier is None:
        return f"{where} needs privacy.epsilon (a target) or privacy.noise_multiplier"
    blocked = (_NO_DPSGD if privacy.dp == "dpsgd" else _NO_DPFEDAVG).get(training.strategy)
    if blocked is not None:
        return f"{where} cannot run strategy '{training.strategy}': {blocked}"
    if privacy.dp == "dpsgd" and model.kind in MIL_KINDS:
        return (
            f"{where} cannot train model kind '{model.kind}': its loss is the Cox partial "
            "likelihood over bags; use dp = 'dpfedavg' (a site-level guarantee)"
        )
    if privacy.dp == "dpsgd" and model.loss != "logistic_hazard":
        return (
            f"{where} needs model.loss = 'logistic_hazard': the Cox partial likelihood is not "
            "a sum of per-patient terms (one patient sits in other patients' risk sets), so "
            "clipping each row's gradient does not bound one patient's influence"
        )
    return None


def parse_study(data: dict[str, Any], source: str) -> StudySpec:
    """Validate a parsed TOML mapping; errors name ``source`` and the dotted field."""
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        field, message = validation_message(exc, StudySpec)
        raise ConfigError(f"{source}: field '{field or '(top level)'}': {message}") from None


def load_study(path: Path) -> StudySpec:
    """Read and validate a study TOML file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(f"{path.absolute()}: no such study file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read study file ({exc.strerror})") from None
    try:
        data = load_toml(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_study(data, str(path))
