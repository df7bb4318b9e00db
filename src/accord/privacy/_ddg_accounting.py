"""Accounting for the distributed discrete Gaussian (DDG) of DP-FedAvg, and its σ search.

The mechanism (Kairouz, Liu and Steinke, ICML 2021, arXiv:2102.06387): each of n parties
holds an integer vector of L2 norm <= Δ₂ (so L1 norm <= Δ₁, see
:func:`~accord.privacy._discrete_gaussian.l1_bound`) and adds its own N_Z(0, s²) noise in
every coordinate; only the sum is released. The sum of n discrete Gaussians is not a
discrete Gaussian, but it is close to one: with

    τ = 10 · Σ_{k=1}^{n−1} exp(−2π² s² · k / (k+1))

the release is ρ-zCDP for add/remove-one-party's-vector, with (their Theorem 1 and the
zCDP forms of Proposition 14)

    2ρ = min( Δ₂²/(n s²) + 2τ·Δ₁/(√n s) + τ²d ,  (Δ₂/(√n s) + τ√d)² ).

For n = 1, τ = 0 and this is the discrete Gaussian's ½(Δ₂/s)²-zCDP (Canonne, Kamath,
Steinke 2020), which is the *local* case: a site whose update the hub sees alone.

zCDP composes by adding ρ over rounds: dp-accounting's ``RdpAccountant`` composes
``ZCDpEvent(ρ)`` (RDP ρα at every order α) ``rounds`` times and converts to (ε, δ) with
Canonne–Kamath–Steinke 2020, Proposition 12: ε = min_α ρα + log(1/δ)/(α−1) + log(1 − 1/α)
− log(α)/(α−1), over its default grid of orders. On that same grid the continuous Gaussian
of the same σ (``GaussianDpEvent(σ)``, RDP α/(2σ²)) can never come out *above* the DDG's ε:
per order the DDG's ρα >= α/(2σ²), because Δ₂ >= c (rounding only inflates) and τ >= 0.

Units. In DP-FedAvg the clipped update (norm <= C) is scaled by 2^F (secure aggregation's
fraction bits), so c = C·2^F and the sum's noise has variance σ²c² whenever at least t
shares of σ²c²/t are in it. :func:`ddg_epsilon` takes σ in units of C (the study's
``noise_multiplier``) and does the scaling. At F = 40 and C = 1, s is ~2^40 and τ is 0 to
machine precision; the price of the discrete mechanism is then only Δ₂/c − 1 (~1e-12).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dp_accounting import dp_event  # type: ignore[import-untyped]
from dp_accounting.rdp import rdp_privacy_accountant  # type: ignore[import-untyped]

from accord.core import ConfigError
from accord.privacy._checks import _check_count, _check_delta, _check_positive
from accord.privacy._discrete_gaussian import ROUNDING_BETA, l1_bound, rounded_l2_bound

__all__ = ["MAX_DIMENSION", "DDGSetting", "ddg_epsilon", "ddg_noise_for_epsilon", "ddg_rho"]

MAX_DIMENSION = 2**20  # planning bound on d: a site refuses an update with more coordinates


@dataclass(frozen=True)
class DDGSetting:
    """What the DDG's ε depends on besides σ and the number of rounds.

    ``parties`` n: the fewest noise shares in any sum that can be released (the secure
    round's threshold t; 1 in clear); ``dim`` d: coordinates of the update;
    ``fraction_bits`` F: the update is scaled by 2^F before rounding; ``clip_norm`` C.
    """

    parties: int
    dim: int
    fraction_bits: int
    clip_norm: float
    beta: float = ROUNDING_BETA

    def __post_init__(self) -> None:
        _check_count(self.parties, "parties")
        _check_count(self.dim, "dim")
        _check_positive(self.clip_norm, "clip_norm")
        if not isinstance(self.fraction_bits, int) or not 0 <= self.fraction_bits <= 64:
            raise ConfigError(f"fraction_bits is {self.fraction_bits!r}; expected 0..64")

    @property
    def scaled_clip(self) -> float:
        """c = C·2^F, the clip norm in integer units."""
        return math.ldexp(self.clip_norm, self.fraction_bits)

    @property
    def l2_sensitivity(self) -> float:
        """Δ₂ after conditional rounding, integer units."""
        return rounded_l2_bound(self.scaled_clip, self.dim, self.beta)


def ddg_rho(noise_multiplier: float, setting: DDGSetting) -> float:
    """ρ of one DDG release (zCDP) when the sum's noise is σ²c², shared by n parties."""
    sigma = _check_positive(noise_multiplier, "noise_multiplier")
    n, d = setting.parties, setting.dim
    l2 = setting.l2_sensitivity
    l1 = l1_bound(l2, d)
    central = sigma * setting.scaled_clip  # √n · s
    local = central / math.sqrt(n)  # s, each party's discrete Gaussian parameter
    tau = 10.0 * sum(math.exp(-2.0 * math.pi**2 * local**2 * k / (k + 1)) for k in range(1, n))
    l2_scale, l1_scale = l2 / central, l1 / central
    twice_rho = min(
        l2_scale**2 + 2.0 * tau * l1_scale + tau**2 * d,
        (l2_scale + tau * math.sqrt(d)) ** 2,
    )
    return twice_rho / 2.0


def ddg_epsilon(noise_multiplier: float, rounds: int, delta: float, setting: DDGSetting) -> float:
    """ε at δ of ``rounds`` DDG releases, each with sum noise (σ·C·2^F)² (see module doc).

    Parameters
    ----------
    noise_multiplier:
        σ, the aggregate noise's standard deviation in units of the clip norm C.
    rounds:
        releases composed (>= 1).
    delta:
        target δ in (0, 1).
    setting:
        parties, dimension, fraction bits and clip norm.
    """
    accountant = rdp_privacy_accountant.RdpAccountant()  # default orders, as the Gaussian's
    event = dp_event.ZCDpEvent(ddg_rho(noise_multiplier, setting))
    accountant.compose(dp_event.SelfComposedDpEvent(event, _check_count(rounds, "rounds")))
    return float(accountant.get_epsilon(_check_delta(delta)))


def ddg_noise_for_epsilon(
    target_epsilon: float, rounds: int, delta: float, setting: DDGSetting
) -> float:
    """The smallest σ (units of C, to 0.1 % of σ) whose :func:`ddg_epsilon` <= the target.

    A bisection on log σ (ε decreases with σ). Raises :class:`ConfigError` when no σ up to
    10^6 reaches the target.
    """
    target = _check_positive(target_epsilon, "target_epsilon")
    low, high = 1e-3, 1e6
    if ddg_epsilon(high, rounds, delta, setting) > target:
        raise ConfigError(
            f"no noise_multiplier up to {high:g} reaches epsilon {target:g} over {rounds} rounds"
        )
    if ddg_epsilon(low, rounds, delta, setting) <= target:
        return low
    while high / low > 1.001:
        middle = math.sqrt(low * high)
        if ddg_epsilon(middle, rounds, delta, setting) <= target:
            high = middle
        else:
            low = middle
    return high
