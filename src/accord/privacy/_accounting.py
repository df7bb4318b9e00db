"""Privacy accounting for the Gaussian mechanisms accord runs (DP-SGD and DP-FedAvg).

Every ε is computed twice, by two independent implementations of the Rényi-DP accountant
of the (Poisson-subsampled) Gaussian mechanism, and reported side by side:

- ``"opacus_rdp"``: :class:`opacus.accountants.RDPAccountant` with its default orders
  extended by 128, 256, 512 and 1024 (as dp-accounting's), which tightens small ε;
- ``"dp_accounting_rdp"``: :class:`dp_accounting.rdp.RdpAccountant` (Google) with its
  default orders, composing ``PoissonSampledDpEvent(q, GaussianDpEvent(σ))``.

They use the same RDP-to-(ε, δ) conversion (Balle et al. 2020) and agree to well within
a few per cent; where they differ (low noise, high sampling rates) the larger value is the
safer one to record, see :func:`most_conservative`. The neighbouring relation is
add-or-remove-one record (one patient for DP-SGD, one site for DP-FedAvg); a replace-one
guarantee costs up to twice the sensitivity.

Composition across runs: an accountant composes tightly when given all steps at once
(``steps = rounds × local steps`` for one dataset), which is much tighter than summing the
ε of each run as :class:`accord.privacy._budget.PrivacyBudget` does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dp_accounting import dp_event  # type: ignore[import-untyped]
from dp_accounting.rdp import rdp_privacy_accountant  # type: ignore[import-untyped]
from opacus.accountants import RDPAccountant  # type: ignore[import-untyped]
from opacus.accountants.utils import get_noise_multiplier  # type: ignore[import-untyped]

from accord.core import ConfigError
from accord.privacy._checks import _check_count, _check_delta, _check_positive, _check_rate

__all__ = [
    "DP_ACCOUNTING_RDP",
    "OPACUS_RDP",
    "PrivacySpent",
    "dpsgd_epsilon",
    "gaussian_mechanism_epsilon",
    "most_conservative",
    "noise_for_epsilon",
]

OPACUS_RDP = "opacus_rdp"
DP_ACCOUNTING_RDP = "dp_accounting_rdp"
_OPACUS_ORDERS = [*RDPAccountant.DEFAULT_ALPHAS, 128, 256, 512, 1024]


@dataclass(frozen=True)
class PrivacySpent:
    """An (ε, δ) guarantee and the accountant that computed it."""

    epsilon: float
    delta: float
    accountant: str


def _opacus_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    return float(accountant.get_epsilon(delta=delta, alphas=_OPACUS_ORDERS))


def _drop_unconverged_orders(record: logging.LogRecord) -> bool:
    """Filter for dp-accounting's absl warning about fractional orders it had to skip."""
    return "failed to converge" not in str(record.msg)


@contextmanager
def _quiet_dp_accounting() -> Iterator[None]:
    """Silence, for one call, dp-accounting's warning that it skipped a fractional order
    (near 1, at high sampling rates). Skipping an order can only make its ε larger."""
    logger = logging.getLogger("absl")
    logger.addFilter(_drop_unconverged_orders)
    try:
        yield
    finally:
        logger.removeFilter(_drop_unconverged_orders)


def _dp_accounting_epsilon(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> float:
    event: object = dp_event.GaussianDpEvent(noise_multiplier)
    if sample_rate < 1.0:
        event = dp_event.PoissonSampledDpEvent(sample_rate, event)
    accountant = rdp_privacy_accountant.RdpAccountant()
    with _quiet_dp_accounting():
        accountant.compose(dp_event.SelfComposedDpEvent(event, steps))
        return float(accountant.get_epsilon(delta))


def dpsgd_epsilon(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> dict[str, PrivacySpent]:
    """ε of ``steps`` Poisson-subsampled Gaussian steps (DP-SGD), by both accountants.

    Args:
        noise_multiplier: σ, noise standard deviation over the clipping norm (> 0).
        sample_rate: q, the probability that a record is in a batch (expected batch / n).
        steps: number of noisy gradient steps (>= 1).
        delta: target δ in (0, 1); choose δ well below 1 / n.

    Returns:
        ``{"opacus_rdp": PrivacySpent, "dp_accounting_rdp": PrivacySpent}``.
    """
    sigma = _check_positive(noise_multiplier, "noise_multiplier")
    q = _check_rate(sample_rate)
    n_steps = _check_count(steps, "steps")
    d = _check_delta(delta)
    return {
        OPACUS_RDP: PrivacySpent(_opacus_epsilon(sigma, q, n_steps, d), d, OPACUS_RDP),
        DP_ACCOUNTING_RDP: PrivacySpent(
            _dp_accounting_epsilon(sigma, q, n_steps, d), d, DP_ACCOUNTING_RDP
        ),
    }


def gaussian_mechanism_epsilon(
    noise_multiplier: float, rounds: int, delta: float, sample_rate: float = 1.0
) -> dict[str, PrivacySpent]:
    """ε of site-level DP-FedAvg: ``rounds`` releases of a sum with sensitivity C and noise σC.

    ``sample_rate`` is the probability that a site takes part in a round (1.0: every site,
    every round, the plain composed Gaussian mechanism). The unit of privacy is one site's
    whole contribution (add or remove one site). Same return shape as :func:`dpsgd_epsilon`.
    """
    return dpsgd_epsilon(noise_multiplier, sample_rate, rounds, delta)


def _conservative_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    return max(
        _opacus_epsilon(sigma, q, steps, delta), _dp_accounting_epsilon(sigma, q, steps, delta)
    )


def noise_for_epsilon(target_epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The smallest σ (to 1 % of ε) whose ε after ``steps`` is <= ``target_epsilon`` by
    *both* accountants, i.e. as :func:`most_conservative` records it.

    Opacus' ``get_noise_multiplier`` gives a start (its RDP ε in ``[0.99 · target,
    target]``); where dp-accounting's ε of that σ is larger than the target, σ is raised
    and bisected on the larger of the two. The returned σ gives a recorded ε in
    ``[0.99 · target, target]``. Raises :class:`ConfigError` when no σ up to 10^6 suffices.
    """
    target = _check_positive(target_epsilon, "target_epsilon")
    d = _check_delta(delta)
    q = _check_rate(sample_rate)
    n_steps = _check_count(steps, "steps")
    try:
        start = get_noise_multiplier(
            target_epsilon=target,
            target_delta=d,
            sample_rate=q,
            steps=n_steps,
            accountant="rdp",
            epsilon_tolerance=0.01 * target,
            alphas=_OPACUS_ORDERS,
        )
    except ValueError as exc:  # Opacus: "The privacy budget is too low."
        raise ConfigError(
            f"target_epsilon {target} is unreachable with delta {d}, sample_rate {q} and "
            f"{n_steps} steps; expected a larger epsilon or fewer steps"
        ) from exc
    return _bisect_conservative(float(start), target, q, n_steps, d)


def _bisect_conservative(start: float, target: float, q: float, steps: int, delta: float) -> float:
    """From Opacus' σ (ε <= target by Opacus), the σ whose larger ε lies in [0.99 t, t]."""

    def eps(sigma: float) -> float:
        return _conservative_epsilon(sigma, q, steps, delta)

    if eps(start) <= target:
        return start
    low, high = start, start * 1.05  # ε(low) > target; find ε(high) <= target
    while eps(high) > target:
        low, high = high, high * 1.5
        if high > 1e6:
            raise ConfigError(f"target_epsilon {target} needs a noise multiplier above 10^6")
    while eps(high) < 0.99 * target:
        middle = 0.5 * (low + high)
        if eps(middle) > target:
            low = middle
        else:
            high = middle
    return high


def most_conservative(spent: dict[str, PrivacySpent]) -> PrivacySpent:
    """The entry with the largest ε: the one to charge to a budget or write to the ledger."""
    if not spent:
        raise ConfigError("spent is empty; expected at least one accountant's result")
    return max(spent.values(), key=lambda s: s.epsilon)
