"""The Plan: one immutable value per compute plan, decided once and passed to the hub.

A plan says who takes part, what every task carries (:class:`~accord.fl._task_config.TaskConfig`),
whether its summed rounds run under secure aggregation (and with which settings) and,
for training plans, the strategy. :meth:`Plan.create` is the one place that decides secure
aggregation: the study's ``[privacy] secure_aggregation`` ("auto": on for more than two
sites), off for plans whose replies are not summed, and refused ("on") or quietly off
("auto") for strategies that need each site's individual update.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from accord.core import ConfigError, PolicyError, PrivacySpec, TrainingSpec, new_id
from accord.crypto.secagg import Quantizer, threshold_floor
from accord.fl._task_config import DPSettings, SecAggRound, TaskConfig
from accord.net import Task

if TYPE_CHECKING:
    from accord.fl._site import SiteContext
from accord.fl.strategies._base import SiteInfo, Strategy

__all__ = [
    "ExpectSecure",
    "Plan",
    "PlanBook",
    "SecurePlan",
    "SecureSettings",
    "expect_from_plans",
    "plan_task_config",
    "round_secagg",
]


@dataclass(frozen=True)
class SecureSettings:
    """Quantisation range and precision, threshold fraction and SecAgg+ graph of a plan
    (from the study's ``[privacy]``); the defaults are :class:`PrivacySpec`'s."""

    clip: float = 1e12
    threshold: float = 0.67
    neighbours: int | None = None
    fraction_bits: int = 40

    @classmethod
    def of(cls, privacy: PrivacySpec) -> SecureSettings:
        return cls(
            privacy.secagg_clip,
            privacy.secagg_threshold,
            privacy.secagg_neighbours,
            privacy.secagg_fraction_bits,
        )


@dataclass(frozen=True)
class SecurePlan:
    """What a site expects of every secure round of a plan, from the *signed* plan: the
    plan's sites (every round invites all of them) and its secure-aggregation settings.

    A site compares each task's :class:`~accord.fl.SecAggRound` with this, never the other
    way round: the hub's task config is a claim, the signed plan is the reference.
    """

    sites: tuple[str, ...]
    settings: SecureSettings


def round_secagg(
    sites: Sequence[str], settings: SecureSettings, graph_seed: str | None = None
) -> SecAggRound:
    """The round's public secure-aggregation parameters for ``sites``; a fresh random
    graph seed unless ``graph_seed`` (hex) is given.

    The threshold is ``settings.threshold`` of a neighbourhood (k + 1 share holders, or
    all n sites), never below a majority or the sites' floor ``ceil(2h/3)``
    (:func:`~accord.crypto.secagg.threshold_floor`). A site recomputes this from the
    signed plan and refuses a round that differs (see ``accord.fl._secure_site``).
    """
    n = len(sites)
    k = settings.neighbours if settings.neighbours and settings.neighbours < n - 1 else None
    neighbourhood = (k + 1) if k else n
    wanted = math.floor(settings.threshold * neighbourhood)
    threshold = min(neighbourhood, max(2, neighbourhood // 2 + 1, threshold_floor(n, k), wanted))
    return SecAggRound(
        sites=tuple(sites),
        threshold=threshold,
        neighbours=k,
        clip=settings.clip,
        fraction_bits=settings.fraction_bits,
        graph_seed=os.urandom(16).hex() if graph_seed is None else graph_seed,
    )


ExpectSecure = Callable[[Task, "SiteContext"], "SecurePlan | None"]
"""A site's source of :class:`SecurePlan` for a task's plan (None: the plan sums in clear).
Given by the site's governance (its verified ledger replica), or by its own study file
when it runs without a ledger."""


@dataclass(frozen=True)
class Plan:
    """One compute plan: its id, its sites, its task settings, secure aggregation, strategy.

    ``sites`` receive the plan's tasks (``n_train`` as the sites reported it, 0 before
    they have); ``secure`` is None when the plan's sums are plain; ``strategy`` is set for
    training plans only.
    """

    plan_id: str
    method: str
    sites: tuple[SiteInfo, ...]
    config: TaskConfig = field(default_factory=TaskConfig)
    secure: SecureSettings | None = None
    strategy: Strategy | None = None
    min_sites: int = 1  # fewer answers to any exchange and the plan fails, with the reasons

    def __post_init__(self) -> None:
        if self.secure is not None and self.strategy is not None:
            _check_summable(self.strategy)
        if self.secure is not None:  # the fixed-point sum must fit: say so now, not mid-run
            Quantizer(self.secure.clip, max(1, len(self.sites)), self.secure.fraction_bits)

    @classmethod
    def create(
        cls,
        method: str,
        sites: Sequence[SiteInfo],
        privacy: PrivacySpec,
        *,
        config: TaskConfig | None = None,
        strategy: Strategy | None = None,
        summed: bool = True,
        plan_id: str | None = None,
    ) -> Plan:
        """A plan whose secure aggregation follows ``privacy`` for ``len(sites)`` sites.

        ``summed=False``: the plan's replies are used one by one (released tiles), never
        summed, so secure aggregation does not apply.
        """
        secure = None
        if summed and privacy.secure_for(len(sites)):
            secure = SecureSettings.of(privacy)
            if strategy is not None and strategy.needs_individual_updates:
                if privacy.secure_aggregation == "on":
                    _check_summable(strategy)
                secure = None  # "auto": the strategy runs, in clear
        config = config or TaskConfig()
        # Under secure aggregation no sum may be unmasked with fewer than ⌈2n/3⌉ sites (the
        # sites' own floor); in clear, one site is enough to go on — each left-out site is
        # still recorded, signed and reported.
        minimum = max(2, math.ceil(2 * len(sites) / 3)) if secure is not None else 1
        return cls(
            plan_id or new_id("plan"), method, tuple(sites), config, secure, strategy, minimum
        )

    @classmethod
    def plain(cls, sites: Sequence[SiteInfo], strategy: Strategy | None = None) -> Plan:
        """A plan with no ledger, no DP, no secure aggregation and no minimum number of
        answers of its own (tests, tools; the hub's ``min_sites`` still applies)."""
        return cls(new_id("plan"), "plain", tuple(sites), strategy=strategy, min_sites=0)

    def with_secure(self, secure: SecureSettings | None) -> Plan:
        return replace(self, secure=secure)

    @property
    def site_ids(self) -> list[str]:
        return [s.site for s in self.sites]

    def secure_plan(self) -> SecurePlan | None:
        """What each site of this plan should expect of its secure rounds."""
        if self.secure is None:
            return None
        return SecurePlan(tuple(self.site_ids), self.secure)


@dataclass
class PlanBook:
    """The plans a site without a ledger knows, by id: what each expects of its secure
    rounds (:meth:`expect` is an :data:`ExpectSecure`).

    Only where the site and the hub are one trusted process (a ledger-less simulation,
    tests) may the hub :meth:`add` to it: a deployed site reads its plans from its
    verified ledger replica (:meth:`~accord.fl.SiteGovernance.expect_secure`).
    """

    _known: dict[str, SecurePlan | None] = field(default_factory=dict)

    def add(self, plan: Plan) -> None:
        self._known[plan.plan_id] = plan.secure_plan()

    def expect(self, task: Task, ctx: SiteContext) -> SecurePlan | None:
        """Raises PolicyError for a task of a plan the book does not hold."""
        if task.plan_id not in self._known:
            raise PolicyError(f"plan {task.plan_id} is not a plan this site knows")
        return self._known[task.plan_id]


def expect_from_plans(plans: Iterable[Plan]) -> ExpectSecure:
    """An :data:`ExpectSecure` that knows ``plans`` (by id) and refuses any other plan's
    task (:class:`PolicyError`): for tests and sites that run from their own study file;
    a governed site takes its plans from its verified ledger replica instead."""
    book = PlanBook()
    for plan in plans:
        book.add(plan)
    return book.expect


def _check_summable(strategy: Strategy) -> None:
    if strategy.needs_individual_updates:
        raise ConfigError(
            f"privacy.secure_aggregation = 'on' cannot run strategy '{strategy.name}', "
            "which needs each site's individual update"
        )


def plan_task_config(
    privacy: PrivacySpec, training: TrainingSpec, n_sites: int, model: str, function: str = ""
) -> TaskConfig:
    """The settings every task of a study's plan carries: DP and shape from the study."""
    return TaskConfig(
        function=function,
        rounds=training.rounds,
        n_sites=n_sites,
        model=model,
        dp=DPSettings.of(privacy),
    )
