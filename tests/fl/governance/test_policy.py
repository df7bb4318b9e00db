"""A site's policy: loading it from TOML and checking tasks rule by rule."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accord.core import ConfigError, MissingFileError, PolicyError
from accord.fl.governance import (
    FUNCTION_REGISTERED,
    GovernanceView,
    SiteInstall,
    SitePolicy,
    check_task,
    function_hash,
    load_site_policy,
)
from tests.fl.governance.conftest import (
    CODE,
    CONFIG,
    LAB,
    SITE_A,
    SITE_B,
    Consortium,
    make_archive,
)

OTHER = "e" * 64


def _check(
    view: GovernanceView, function: str, policy: SitePolicy | None = None, **over: Any
) -> None:
    """Check a task of ``function`` at SITE_A, which holds that function's study and code."""
    registered = view.functions.get(function)
    archive = registered.archive if registered else {"config": CONFIG, "code": CODE}
    task: dict[str, Any] = {
        "plan_id": "plan-1",
        "function": function,
        "dataset_id": "crc-a",
        "site_org": SITE_A,
        "cohort_size": 50,
        "round": 0,
        "local": SiteInstall(archive["config"], archive["code"]),
        **over,
    }
    check_task(policy or SitePolicy(), view, **task)


def test_a_task_within_policy_passes(consortium: Consortium) -> None:
    view, function = consortium.ledger.view(), consortium.function
    _check(view, function)
    strict = SitePolicy(
        force_secure_aggregation=True,
        min_cohort_size=50,
        allowed_organisations=(LAB,),
        max_rounds=10,
        require_dp=True,
        epsilon_budget={"crc-a": Decimal("3.0")},
    )
    _check(view, function, strict, epsilon_spent=1.0)  # 1.0 + 2.0 == budget: allowed


def test_unknown_plan(consortium: Consortium) -> None:
    with pytest.raises(PolicyError, match=r"^plan plan-9 is not on the ledger$"):
        _check(consortium.ledger.view(), consortium.function, plan_id="plan-9")


def test_plan_submitted_with_a_revoked_key(consortium: Consortium) -> None:
    key = consortium.ledger.ids[LAB].key_id
    consortium.ledger.revoke(LAB, key)
    expected = rf"^plan plan-1 was submitted with a revoked key \(lab_x/{key}\)$"
    with pytest.raises(PolicyError, match=expected):
        _check(consortium.ledger.view(), consortium.function)


@pytest.mark.parametrize(
    ("dataset", "disable"), [("crc-z", False), ("crc-a", True), ("crc-b", False)]
)
def test_dataset_unknown_disabled_or_elsewhere(
    consortium: Consortium, dataset: str, disable: bool
) -> None:
    if disable:
        consortium.ledger.disable(SITE_A, dataset)
    expected = rf"^dataset {dataset} is not registered \(or disabled\) at hospital_a$"
    with pytest.raises(PolicyError, match=expected):
        _check(consortium.ledger.view(), consortium.function, dataset_id=dataset)


def test_dataset_not_named_by_the_plan(consortium: Consortium) -> None:
    consortium.ledger.approve(SITE_A, consortium.function, "crc-a2")
    with pytest.raises(PolicyError, match=r"^plan plan-1 does not name dataset crc-a2$"):
        _check(consortium.ledger.view(), consortium.function, dataset_id="crc-a2")


def test_submitter_not_in_the_dataset_permissions(consortium: Consortium) -> None:
    consortium.ledger.update(SITE_A, "crc-a", [SITE_B])
    with pytest.raises(PolicyError, match=r"^organisation lab_x may not process dataset crc-a$"):
        _check(consortium.ledger.view(), consortium.function)


def test_submitter_not_in_the_site_allow_list(consortium: Consortium) -> None:
    policy = SitePolicy(allowed_organisations=("lab_y",))
    with pytest.raises(PolicyError, match=r"^organisation lab_x may not process dataset crc-a$"):
        _check(consortium.ledger.view(), consortium.function, policy)


def test_task_function_differs_from_the_plan(consortium: Consortium) -> None:
    with pytest.raises(PolicyError, match=r"^task function differs from the plan's$"):
        _check(consortium.ledger.view(), OTHER)


def test_function_not_registered(consortium: Consortium) -> None:
    consortium.ledger.plan(OTHER, ["crc-a"], plan="plan-2")
    with pytest.raises(PolicyError, match=rf"^function {OTHER[:12]} is not registered$"):
        _check(consortium.ledger.view(), OTHER, plan_id="plan-2")


def test_function_archive_tampered(consortium: Consortium) -> None:
    claimed = function_hash(make_archive(lr="0.7"))
    payload = {"function": claimed, "name": "cox", "archive": make_archive(lr="0.9")}
    consortium.ledger.add(LAB, FUNCTION_REGISTERED, payload)
    consortium.ledger.approve(SITE_A, claimed, "crc-a")
    consortium.ledger.plan(claimed, ["crc-a"], plan="plan-2")
    expected = rf"^function {claimed[:12]} archive does not hash to its id \(tampered\)$"
    with pytest.raises(PolicyError, match=expected):
        _check(consortium.ledger.view(), claimed, plan_id="plan-2")


def test_local_code_differs(consortium: Consortium) -> None:
    h12 = consortium.function[:12]
    code = {**CODE, "accord/fl/_site.py": "f" * 64, "accord/fl/_extra.py": "0" * 64}
    expected = (
        rf"^function {h12} does not match the code this site runs \(2 files differ: "
        r"accord/fl/_extra.py, accord/fl/_site.py\)$"
    )
    with pytest.raises(PolicyError, match=expected):
        _check(consortium.ledger.view(), consortium.function, local=SiteInstall(CONFIG, code))


_BMI = {"features": {**CONFIG["cohort"]["features"], "bmi": "numeric"}}


@pytest.mark.parametrize(
    ("section", "change", "field"),
    [
        ("cohort", _BMI, "cohort.features.bmi"),
        ("preprocessing", {"min_cell_count": 1}, "preprocessing.min_cell_count"),
        ("evaluation", {"bootstrap": 0}, "evaluation.bootstrap"),
    ],
)
def test_a_site_whose_own_study_differs_refuses(
    consortium: Consortium, section: str, change: dict[str, Any], field: str
) -> None:
    config = {**CONFIG, section: {**CONFIG[section], **change}}
    h12 = consortium.function[:12]
    expected = rf"^this site's study differs from function {h12}'s in {re.escape(field)}$"
    with pytest.raises(PolicyError, match=expected):
        _check(consortium.ledger.view(), consortium.function, local=SiteInstall(config, CODE))


@pytest.mark.parametrize("field", ["config_hash", "code_hash"])
def test_a_plan_recording_other_hashes_than_its_function_is_refused(
    consortium: Consortium, field: str
) -> None:
    consortium.ledger.plan(consortium.function, ["crc-a"], plan="plan-2", **{field: "9" * 64})
    what = "another configuration" if field == "config_hash" else "other site code"
    expected = rf"^plan plan-2 runs {what} than function {consortium.function[:12]} "
    with pytest.raises(PolicyError, match=expected):
        _check(consortium.ledger.view(), consortium.function, plan_id="plan-2")


def test_approval_for_another_dataset_does_not_count(consortium: Consortium) -> None:
    ledger, function = consortium.ledger, consortium.function
    ledger.plan(function, ["crc-a", "crc-a2"], plan="plan-2")  # approved for crc-a only
    expected = rf"^function {function[:12]} is not approved for dataset crc-a2$"
    with pytest.raises(PolicyError, match=expected):
        _check(ledger.view(), function, plan_id="plan-2", dataset_id="crc-a2")
    _check(
        ledger.view(),
        function,
        SitePolicy(require_approval=False),
        plan_id="plan-2",
        dataset_id="crc-a2",
    )


def test_rejected_after_approval(consortium: Consortium) -> None:
    consortium.ledger.reject(SITE_A, consortium.function, "crc-a", "reads free-text notes")
    h12 = consortium.function[:12]
    expected = rf"^function {h12} was rejected for dataset crc-a: reads free-text notes$"
    with pytest.raises(PolicyError, match=expected):
        _check(consortium.ledger.view(), consortium.function)


def test_a_one_field_change_needs_a_new_approval(consortium: Consortium) -> None:
    ledger = consortium.ledger
    changed = ledger.function(make_archive(local_steps=6))
    ledger.plan(changed, ["crc-a"], plan="plan-2")
    with pytest.raises(PolicyError, match=rf"^function {changed[:12]} is not approved"):
        _check(ledger.view(), changed, plan_id="plan-2")
    ledger.approve(SITE_A, changed, "crc-a")
    _check(ledger.view(), changed, plan_id="plan-2")


def test_small_cohort_size_is_never_shown(consortium: Consortium) -> None:
    with pytest.raises(PolicyError, match=r"below the site minimum \(20\)$") as caught:
        _check(consortium.ledger.view(), consortium.function, cohort_size=13)
    assert str(caught.value) == "cohort of dataset crc-a is below the site minimum (20)"
    assert "13" not in str(caught.value)


def test_too_many_rounds(consortium: Consortium) -> None:
    with pytest.raises(PolicyError, match=r"^plan asks 10 rounds; site allows at most 5$"):
        _check(consortium.ledger.view(), consortium.function, SitePolicy(max_rounds=5))


def test_secure_aggregation_required(consortium: Consortium) -> None:
    consortium.ledger.plan(consortium.function, ["crc-a"], plan="plan-2", secure_aggregation=False)
    policy = SitePolicy(force_secure_aggregation=True)
    refused = r"^site requires secure aggregation \(policy force-secure-aggregation\): plan plan-2 "
    with pytest.raises(PolicyError, match=refused + "sums in clear, so its tasks"):
        _check(consortium.ledger.view(), consortium.function, policy, plan_id="plan-2")
    for kind in ("schema", "stats", "train", "evaluate", "local_baseline", "tile_stats"):
        with pytest.raises(PolicyError, match=refused + f"sums in clear, so task '{kind}'"):
            _check(
                consortium.ledger.view(),
                consortium.function,
                policy,
                plan_id="plan-2",
                task_kind=kind,
            )


@pytest.mark.parametrize("kind", ["setup", "tile_norm", "interpret", "ledger_sync"])
def test_forced_secure_aggregation_lets_tasks_that_release_nothing_run(
    consortium: Consortium, kind: str
) -> None:
    """Installing the consortium's preprocessor, rendering into the site's own folder or
    co-signing the ledger releases nothing to mask: a forcing site answers them."""
    consortium.ledger.plan(consortium.function, ["crc-a"], plan="plan-2", secure_aggregation=False)
    policy = SitePolicy(force_secure_aggregation=True)
    _check(consortium.ledger.view(), consortium.function, policy, plan_id="plan-2", task_kind=kind)


def test_tile_export_is_governed_by_its_own_policy_not_by_forced_secure_aggregation(
    consortium: Consortium,
) -> None:
    consortium.ledger.plan(consortium.function, ["crc-a"], plan="plan-2", secure_aggregation=False)
    allowed = SitePolicy(force_secure_aggregation=True, allow_tile_export=True)
    export = {"plan_id": "plan-2", "task_kind": "export_tiles", "export_patients": 1}
    _check(consortium.ledger.view(), consortium.function, allowed, **export)
    with pytest.raises(PolicyError, match=r"^site does not allow tile images"):
        _check(
            consortium.ledger.view(),
            consortium.function,
            SitePolicy(force_secure_aggregation=True),
            **export,
        )


def _no_dp_function(consortium: Consortium, plan: str = "plan-2") -> str:
    """A non-DP function approved for crc-a, with ``plan`` (declaring no ε) running it."""
    ledger = consortium.ledger
    function = ledger.function(make_archive(privacy={"secure_aggregation": "auto"}))
    ledger.approve(SITE_A, function, "crc-a")
    ledger.plan(function, ["crc-a"], plan=plan, dp_epsilon=None)
    return function


@pytest.mark.parametrize(
    "policy", [SitePolicy(require_dp=True), SitePolicy(epsilon_budget={"crc-a": Decimal(8)})]
)
def test_differential_privacy_required(consortium: Consortium, policy: SitePolicy) -> None:
    function = _no_dp_function(consortium)
    with pytest.raises(PolicyError, match=r"^site requires differential privacy$"):
        _check(consortium.ledger.view(), function, policy, plan_id="plan-2")
    _check(consortium.ledger.view(), function, SitePolicy(), plan_id="plan-2")


def test_privacy_budget_exceeded(consortium: Consortium) -> None:
    policy = SitePolicy(epsilon_budget={"crc-a": Decimal("3.0")})
    with pytest.raises(PolicyError, match=r"^privacy budget of dataset crc-a would be exceeded$"):
        _check(consortium.ledger.view(), consortium.function, policy, epsilon_spent=1.5)
    _check(
        consortium.ledger.view(), consortium.function, policy, dataset_id="crc-a", epsilon_spent=0.5
    )


def test_a_plan_cannot_declare_less_epsilon_than_its_approved_study_spends(
    consortium: Consortium,
) -> None:
    """The ε a plan entry declares is a claim (a hub carrying out a submission signs it);
    the site charges what the approved study's mechanism spends on its rows."""
    ledger, view = consortium.ledger, consortium.ledger.view
    ledger.plan(consortium.function, ["crc-a"], plan="plan-2", dp_epsilon="0.5")
    with pytest.raises(PolicyError, match=r"declares epsilon 0.5, but its study spends 1\.9"):
        _check(view(), consortium.function, plan_id="plan-2")
    ledger.plan(consortium.function, ["crc-a"], plan="plan-3", dp_epsilon=None)
    with pytest.raises(PolicyError, match=r"declares no epsilon, but its approved study trains"):
        _check(view(), consortium.function, plan_id="plan-3")
    function = _no_dp_function(consortium, plan="plan-5")
    ledger.plan(function, ["crc-a"], plan="plan-4", dp_epsilon="1.0")
    with pytest.raises(PolicyError, match=r"declares an epsilon, but its approved study runs no"):
        _check(view(), function, plan_id="plan-4")


def test_a_delta_above_a_tenth_of_one_over_n_is_refused(consortium: Consortium) -> None:
    with pytest.raises(PolicyError, match=r"^privacy.delta 0.0001 is above 1/\(10 n\)"):
        _check(consortium.ledger.view(), consortium.function, cohort_size=2000)


@pytest.mark.parametrize(
    ("kind", "release"),
    [
        ("stats", "preprocessing"),
        ("schema", "preprocessing"),
        ("evaluate", "metrics"),
        ("km_counts", "metrics"),
    ],
)
def test_a_guarded_dataset_releases_nothing_without_dp_unless_its_policy_allows(
    consortium: Consortium, kind: str, release: str
) -> None:
    guarded = SitePolicy(epsilon_budget={"crc-a": Decimal(8)})
    with pytest.raises(PolicyError, match=rf"task '{kind}' would release {release} of dataset"):
        _check(consortium.ledger.view(), consortium.function, guarded, task_kind=kind)
    allowing = guarded.model_copy(update={"allow_non_dp": (release,)})
    _check(consortium.ledger.view(), consortium.function, allowing, task_kind=kind)
    _check(consortium.ledger.view(), consortium.function, guarded, task_kind="train")
    _check(consortium.ledger.view(), consortium.function, SitePolicy(), task_kind=kind)


def test_a_plan_summing_in_clear_against_its_approved_study_is_refused(
    consortium: Consortium,
) -> None:
    """Even without force-secure-aggregation: the approved study asks for it ("auto", 2
    sites is clear; the plan below names 3 sites)."""
    ledger = consortium.ledger
    ledger.plan(
        consortium.function,
        ["crc-a"],
        plan="plan-2",
        secure_aggregation=False,
        sites=[SITE_A, SITE_B, "hospital_c"],
    )
    with pytest.raises(PolicyError, match=r"sums in clear, but its approved study asks for"):
        _check(ledger.view(), consortium.function, plan_id="plan-2", task_kind="train")
    _check(ledger.view(), consortium.function, plan_id="plan-2", task_kind="setup")


def test_the_first_failing_rule_is_reported(consortium: Consortium) -> None:
    policy = SitePolicy(max_rounds=1, force_secure_aggregation=True)
    consortium.ledger.plan(consortium.function, ["crc-a"], plan="plan-2", secure_aggregation=False)
    with pytest.raises(PolicyError, match=r"^cohort of dataset crc-a is below"):
        _check(
            consortium.ledger.view(), consortium.function, policy, plan_id="plan-2", cohort_size=3
        )
    with pytest.raises(PolicyError, match=r"^plan asks 10 rounds"):
        _check(consortium.ledger.view(), consortium.function, policy, plan_id="plan-2")


def test_policy_error_exit_code() -> None:
    assert PolicyError("x").exit_code == 4


# --- load_site_policy ---------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


_KEBAB = """
[site]
name = "hospital_a"

[policy]
require-approval = true
force-secure-aggregation = true
min-cohort-size = 30
allowed-organisations = ["lab_x"]
max-rounds = 50
require-dp = true
epsilon-budget = { "crc-a" = "8.0", "crc-b" = 2.5 }
"""


def test_load_kebab_case(tmp_path: Path) -> None:
    policy = load_site_policy(_write(tmp_path, _KEBAB))
    assert policy == SitePolicy(
        force_secure_aggregation=True,
        min_cohort_size=30,
        allowed_organisations=("lab_x",),
        max_rounds=50,
        require_dp=True,
        epsilon_budget={"crc-a": Decimal("8.0"), "crc-b": Decimal("2.5")},
    )


def test_load_snake_case(tmp_path: Path) -> None:
    text = (
        "[policy]\nrequire_approval = false\nmin_cohort_size = 5\nforce-secure-aggregation = true\n"
    )
    policy = load_site_policy(_write(tmp_path, text))
    assert (policy.require_approval, policy.min_cohort_size) == (False, 5)
    assert policy.force_secure_aggregation


def test_no_policy_table_gives_the_protective_defaults(tmp_path: Path) -> None:
    policy = load_site_policy(_write(tmp_path, '[site]\nname = "a"\n'))
    assert policy == SitePolicy()
    assert policy.require_approval and policy.min_cohort_size == 20


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("min-cohort-size = 0", "policy.min-cohort-size"),
        ("min_cohort_size = true", "policy.min_cohort_size"),
        ("require-approval = 'yes'", "policy.require-approval"),
        ("require-aproval = false", "policy.require-aproval"),
        ("max-rounds = 2.5", "policy.max-rounds"),
        ("epsilon-budget = { crc-a = '-1' }", "policy.epsilon-budget.crc-a"),
        ("epsilon-budget = { crc-a = 'lots' }", "policy.epsilon-budget.crc-a"),
        ("allowed-organisations = 'lab_x'", "policy.allowed-organisations"),
    ],
)
def test_bad_field_names_the_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = _write(tmp_path, f"[policy]\n{text}\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: field '{field}': "):
        load_site_policy(path)


def test_a_field_given_in_both_spellings(tmp_path: Path) -> None:
    path = _write(tmp_path, "[policy]\nmax-rounds = 3\nmax_rounds = 4\n")
    with pytest.raises(
        ConfigError, match=r"field 'policy.max_rounds' is given twice \(max-rounds\)"
    ):
        load_site_policy(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("policy = 3\n", "field 'policy': expected a table"), ("[policy\n", "not valid TOML")],
)
def test_unreadable_policy(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_site_policy(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=rf"^{tmp_path}/absent\.toml: no such site config"):
        load_site_policy(tmp_path / "absent.toml")


def test_policy_is_frozen() -> None:
    with pytest.raises(ValueError):
        SitePolicy(unknown=1)  # type: ignore[call-arg]
    policy = SitePolicy()
    with pytest.raises(ValueError):
        policy.min_cohort_size = 1
