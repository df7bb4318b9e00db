"""A site's own policy: the checks it runs before touching data for a task.

The policy is the ``[policy]`` table of the site's TOML config; it never leaves the site.
Keys may be written kebab-case (``min-cohort-size``) or snake_case (``min_cohort_size``)::

    [policy]
    require-approval = true
    force-secure-aggregation = true
    min-cohort-size = 30
    allowed-organisations = ["lab_x"]
    max-rounds = 50
    require-dp = true
    epsilon-budget = { "crc-2026" = "8.0" }
    allow-non-dp = ["preprocessing", "metrics"]
    allow-tile-export = false
    max-exported-patients = 3

:func:`check_task` raises :class:`PolicyError` with the first rule a task breaks. Its
messages never contain a cohort size below the site's minimum.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.core import (
    ConfigError,
    MissingFileError,
    PolicyError,
    StudySpec,
    load_toml,
    validation_message,
)
from accord.fl.governance._assets import Dataset, Function, GovernanceView, SubmittedPlan
from accord.fl.governance._function import (
    SiteInstall,
    changed_settings,
    differing,
    digest,
    plan_config,
    shortlist,
)
from accord.fl.governance._permissions import can_process

_Epsilon = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class SitePolicy(BaseModel):
    """What a site accepts. ``allowed_organisations`` empty: whoever the dataset permits.

    ``epsilon_budget`` maps a dataset id to the total epsilon the site accepts on it. A
    dataset with a budget (or any dataset, with ``require_dp``) is *guarded*: its model
    updates leave only through a DP mechanism, charged to the budget, and any figure
    released without DP (``preprocessing`` statistics, evaluation ``metrics``, a non-DP
    ``model``; see :mod:`accord.fl._dp_plan`) only when ``allow_non_dp`` lists its class.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    require_approval: bool = Field(default=True, strict=True)
    force_secure_aggregation: bool = Field(default=False, strict=True)
    min_cohort_size: int = Field(default=20, ge=1, strict=True)
    allowed_organisations: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    max_rounds: int | None = Field(default=None, ge=1, strict=True)
    require_dp: bool = Field(default=False, strict=True)
    epsilon_budget: dict[str, _Epsilon] = Field(default_factory=dict)
    allow_non_dp: tuple[Literal["preprocessing", "metrics", "model"], ...] = ()
    allow_tile_export: bool = Field(default=False, strict=True)
    max_exported_patients: int = Field(default=3, ge=0, strict=True)


def _normalise(table: Mapping[str, Any], source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Snake-case the top-level keys; return the data and snake → written spelling."""
    data: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in table.items():
        snake = key.replace("-", "_")
        if snake in data:
            raise ConfigError(f"{source}: field 'policy.{key}' is given twice ({written[snake]})")
        data[snake], written[snake] = value, key
    return data, written


def parse_site_policy(table: Mapping[str, Any], source: str) -> SitePolicy:
    """Validate a parsed ``[policy]`` table; errors name ``source`` and the dotted field."""
    data, written = _normalise(table, source)
    try:
        return SitePolicy.model_validate(data)
    except ValidationError as exc:
        _, message = validation_message(exc, SitePolicy)
        loc = [str(p) for p in exc.errors()[0]["loc"]]
        if loc:
            loc[0] = written.get(loc[0], loc[0])
            if "-" in loc[0] and message.startswith("unknown key"):
                message = message.replace("_", "-")  # suggest in the spelling written
        name = ".".join(["policy", *loc])
        raise ConfigError(f"{source}: field '{name}': {message}") from None


def load_site_policy(path: Path) -> SitePolicy:
    """Read the ``[policy]`` table of a site TOML config (absent: the protective defaults)."""
    try:
        text = path.read_bytes().decode("utf-8")
        data = load_toml(text)
    except FileNotFoundError:
        raise MissingFileError(f"{path.absolute()}: no such site config") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read site config ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    table = data.get("policy", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: field 'policy': expected a table")
    return parse_site_policy(table, str(path))


@dataclass(frozen=True)
class _Task:
    """One task under review, with the plan and dataset already found on the ledger."""

    policy: SitePolicy
    view: GovernanceView
    plan: SubmittedPlan
    dataset: Dataset
    function: str
    local: SiteInstall
    cohort_size: int
    epsilon_spent: Decimal
    kind: str = ""
    export_patients: int = 0

    @property
    def h12(self) -> str:
        return self.function[:12]

    @property
    def registered(self) -> Function:
        """The task's function (rules after ``_registered`` may rely on it)."""
        return self.view.functions[self.function]

    @property
    def study(self) -> StudySpec:
        """The study the plan runs, as its owner approved it (rules after ``_local_study``)."""
        return StudySpec.model_validate(plan_config(self.registered.archive))


def check_task(
    policy: SitePolicy,
    view: GovernanceView,
    *,
    plan_id: str,
    function: str,
    dataset_id: str,
    site_org: str,
    cohort_size: int,
    round: int,
    local: SiteInstall,
    epsilon_spent: float = 0.0,
    task_kind: str = "",
    export_patients: int = 0,
) -> None:
    """Raise PolicyError with the first rule the task breaks; return None if it may run.

    ``function`` is the hash the task names; ``local`` the study file this site holds and
    the code it has installed (both must be the function's); ``epsilon_spent`` what
    earlier plans spent on the dataset.
    ``round`` is the task's round (informational: rules look at the plan's round count).
    ``task_kind`` ``"export_tiles"`` asks to release ``export_patients`` patients' tile
    images off the site: refused unless the policy allows tile export, up to its maximum.
    """
    plan = view.plans.get(plan_id)
    if plan is None:
        raise PolicyError(f"plan {plan_id} is not on the ledger")
    if view.key_revoked(plan.submitter, plan.key_id):
        raise PolicyError(
            f"plan {plan_id} was submitted with a revoked key ({plan.submitter}/{plan.key_id})"
        )
    dataset = view.datasets.get(dataset_id)
    if dataset is None or not dataset.enabled or dataset.site != site_org:
        raise PolicyError(f"dataset {dataset_id} is not registered (or disabled) at {site_org}")
    spent = Decimal(str(epsilon_spent))
    task = _Task(
        policy,
        view,
        plan,
        dataset,
        function,
        local,
        cohort_size,
        spent,
        task_kind,
        export_patients,
    )
    for rule in _RULES:
        reason = rule(task)
        if reason is not None:
            raise PolicyError(reason)


def _named(t: _Task) -> str | None:
    if t.dataset.id not in t.plan.datasets:
        return f"plan {t.plan.id} does not name dataset {t.dataset.id}"
    return None


def _permitted(t: _Task) -> str | None:
    org, allowed = t.plan.submitter, t.policy.allowed_organisations
    if not can_process(t.dataset, org) or (allowed and org not in allowed):
        return f"organisation {org} may not process dataset {t.dataset.id}"
    return None


def _same_function(t: _Task) -> str | None:
    return "task function differs from the plan's" if t.function != t.plan.function else None


def _registered(t: _Task) -> str | None:
    function = t.view.functions.get(t.function)
    if function is None:
        return f"function {t.h12} is not registered"
    if not function.intact:
        return f"function {t.h12} archive does not hash to its id (tampered)"
    return None


def _plan_config(t: _Task) -> str | None:
    if t.plan.config_hash != t.registered.config_hash:
        return f"plan {t.plan.id} runs another configuration than function {t.h12} (config hash)"
    return None


def _plan_code(t: _Task) -> str | None:
    if t.plan.code_hash != t.registered.code_hash:
        return f"plan {t.plan.id} runs other site code than function {t.h12} (code hash)"
    return None


def _local_study(t: _Task) -> str | None:
    config = t.registered.archive["config"]
    if digest(dict(t.local.config)) == t.registered.study_hash:
        return None
    changed = shortlist(changed_settings(config, t.local.config))
    return f"this site's study differs from function {t.h12}'s in {changed}"


def _local_code(t: _Task) -> str | None:
    code = t.registered.archive["code"]
    if digest(dict(t.local.code)) == t.registered.code_hash:
        return None
    files = differing(code, t.local.code)
    count = "1 file differs" if len(files) == 1 else f"{len(files)} files differ"
    return f"function {t.h12} does not match the code this site runs ({count}: {shortlist(files)})"


def _approved(t: _Task) -> str | None:
    if not t.policy.require_approval or t.view.is_approved(t.function, t.dataset.id):
        return None
    decision = t.view.decision(t.function, t.dataset.id)
    if decision is not None and not decision.approved:
        return f"function {t.h12} was rejected for dataset {t.dataset.id}: {decision.reason}"
    return f"function {t.h12} is not approved for dataset {t.dataset.id}"


def _cohort(t: _Task) -> str | None:
    minimum = t.policy.min_cohort_size
    if t.cohort_size < minimum:  # never echo the actual size: it is a small count
        return f"cohort of dataset {t.dataset.id} is below the site minimum ({minimum})"
    return None


def _rounds(t: _Task) -> str | None:
    most = t.policy.max_rounds
    if most is not None and t.plan.rounds > most:
        return f"plan asks {t.plan.rounds} rounds; site allows at most {most}"
    return None


RELEASE_NOTHING: frozenset[str] = frozenset({"setup", "tile_norm", "interpret", "ledger_sync"})
"""Task kinds whose reply carries nothing derived from the site's rows beyond counts of
its own work (``n_features``, ``feature_dim``, ``slides_rendered``, the replica size):
they install what the consortium sends (the preprocessor, tile standardisation), render
into the site's own folder, or co-sign the ledger. ``force-secure-aggregation`` does not
refuse them: there is nothing to mask. ``export_tiles`` is governed by ``allow-tile-export``
and ``max-exported-patients`` (tiles cannot be summed, so no plan that releases them is
secure). Every other kind (``schema``, ``stats``, ``train``, ``evaluate``,
``local_baseline``, ...) and any kind added later releases figures of the site's rows."""


def _secure_aggregation(t: _Task) -> str | None:
    # the signed plan's SecurePlan: what SiteGovernance.expect_secure gives the site
    if not t.policy.force_secure_aggregation or t.plan.secure is not None:
        return None
    if t.kind in RELEASE_NOTHING or t.kind == "export_tiles":
        return None
    what = f"task '{t.kind}'" if t.kind else "its tasks"
    return (
        f"site requires secure aggregation (policy force-secure-aggregation): plan "
        f"{t.plan.id} sums in clear, so {what} would release this site's figures unmasked"
    )


def _secure_as_approved(t: _Task) -> str | None:
    """A plan sums securely whenever its approved study says so, whoever signed it."""
    if t.kind in RELEASE_NOTHING or t.kind == "export_tiles" or t.plan.secure is not None:
        return None
    study = t.study
    if study.training.strategy == "cyclic" or not study.privacy.secure_for(len(t.plan.sites)):
        return None
    return (
        f"plan {t.plan.id} sums in clear, but its approved study asks for secure aggregation "
        f"(privacy.secure_aggregation = '{study.privacy.secure_aggregation}', "
        f"{len(t.plan.sites)} sites)"
    )


def _privacy(t: _Task) -> str | None:
    from accord.fl._dp_plan import releases_of, site_epsilon

    study = t.study
    releases = releases_of(t.kind or "train", study)
    declared = None if t.plan.dp_epsilon is None else Decimal(t.plan.dp_epsilon)
    if declared is not None and study.privacy.dp == "none":
        return f"plan {t.plan.id} declares an epsilon, but its approved study runs no DP"
    budget = t.policy.epsilon_budget.get(t.dataset.id)
    if "dp" in releases:
        if declared is None:
            return (
                f"plan {t.plan.id} declares no epsilon, but its approved study trains with "
                f"differential privacy ({study.privacy.dp})"
            )
        if study.privacy.delta > 1.0 / (10 * max(1, t.cohort_size)):
            return (
                f"privacy.delta {study.privacy.delta:g} is above 1/(10 n) for dataset "
                f"{t.dataset.id}; expected a smaller delta"
            )
        own = Decimal(str(site_epsilon(study, t.cohort_size, len(t.plan.sites))))
        if own > declared * Decimal("1.000001"):
            return (
                f"plan {t.plan.id} declares epsilon {declared}, but its study spends "
                f"{own:.4f} on dataset {t.dataset.id}"
            )
        if budget is not None and t.epsilon_spent + max(own, declared) > budget:
            return f"privacy budget of dataset {t.dataset.id} would be exceeded"
    if not (t.policy.require_dp or budget is not None):
        return None
    if "model" in releases and t.policy.require_dp:
        return "site requires differential privacy"
    refused = [r for r in releases if r != "dp" and r not in t.policy.allow_non_dp]
    if "model" in refused:
        return "site requires differential privacy"
    if refused:
        what = f"task '{t.kind}'" if t.kind else "the plan"
        return (
            f"{what} would release {', '.join(refused)} of dataset {t.dataset.id} without "
            "differential privacy; the site's policy does not allow it (allow-non-dp)"
        )
    return None


def _tile_export(t: _Task) -> str | None:
    if t.kind != "export_tiles":
        return None
    if not t.policy.allow_tile_export:
        return f"site does not allow tile images of dataset {t.dataset.id} to leave it"
    most = t.policy.max_exported_patients
    if t.export_patients > most:
        return f"export asks {t.export_patients} patients' tiles; site allows at most {most}"
    return None


_RULES: tuple[Callable[[_Task], str | None], ...] = (
    _named,
    _permitted,
    _same_function,
    _registered,
    _plan_config,
    _plan_code,
    _local_study,
    _local_code,
    _approved,
    _cohort,
    _rounds,
    _secure_aggregation,
    _secure_as_approved,
    _privacy,
    _tile_export,
)
