"""Site-level DP-FedAvg (McMahan et al. 2018) with distributed discrete Gaussian noise.

The unit of privacy is a whole site: each site clips its update to ``clip_norm`` C (weight
1), so adding or removing one site's data changes the sum by at most C in L2 norm. The noise
is added by the sites, in the integer domain secure aggregation sums in (Kairouz, Liu and
Steinke 2021, the distributed discrete Gaussian), by :func:`noise_update_ddg`:

1. scale the clipped update by 2^F, F secure aggregation's fraction bits (exact in floats);
2. round it to integers by conditional randomised rounding, to L2 norm <= Δ₂
   (:func:`~accord.privacy._discrete_gaussian.randomised_round`);
3. add this site's share, N_Z(0, σ²C²4^F / t) per coordinate, t the fewest shares any
   unmaskable sum holds (the secure round's threshold; 1 in clear);
4. return k·2^−F as floats: exact (|k| < 2^53, checked), and exactly what the quantiser
   encodes back to k, so secure aggregation adds no rounding of its own.

Any sum of t or more shares carries variance >= σ²C²4^F, the rest of the noise of surviving
sites being independent of the private data (post-processing); ε is that of the DDG
(:mod:`accord.privacy._ddg_accounting`). In clear, t = 1: each update carries all the noise
and is itself a discrete Gaussian release (local DP). A coalition of k sites that pools its
own shares removes them, leaving (t − k) / t of the variance against that coalition.
Secure aggregation's wrap-around modulo 2^64 and the hub's float decoding are functions of
the integer sum alone: post-processing, at no privacy cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from accord.core import AggregationError, Arrays, ConfigError, PrivacyError, PrivacySpec
from accord.privacy._checks import _check_positive
from accord.privacy._ddg_accounting import (
    MAX_DIMENSION,
    DDGSetting,
    ddg_epsilon,
    ddg_noise_for_epsilon,
)
from accord.privacy._discrete_gaussian import randomised_round, sample_discrete_gaussian

__all__ = ["clip_update", "dpfedavg_epsilon", "dpfedavg_noise", "noise_update_ddg"]

_EXACT = 2**53  # |k| below this: k·2^−F is an exact float64


def _global_norm(arrays: Mapping[str, np.ndarray]) -> float:
    """L2 norm of all arrays flattened into one vector."""
    squares = sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays.values())
    return float(np.sqrt(squares))


def clip_update(arrays: Mapping[str, np.ndarray], clip_norm: float) -> tuple[Arrays, float]:
    """Scale an update so that its global L2 norm (over all arrays together) is <= C.

    Returns the clipped copies (float64) and the scale applied, ``min(1, C / norm)``
    (1.0 for an all-zero update).

    Raises:
        AggregationError: an array has non-finite values (named, values never shown).
    """
    c = _check_positive(clip_norm, "clip_norm")
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise AggregationError(f"update array {name!r} has non-finite values")
    norm = _global_norm(arrays)
    scale = 1.0 if norm <= c else c / norm
    clipped = {k: np.asarray(v, dtype=np.float64) * scale for k, v in arrays.items()}
    return clipped, scale


def dpfedavg_setting(
    privacy: PrivacySpec, parties: int = 1, dim: int = MAX_DIMENSION
) -> DDGSetting:
    """The DDG setting of a study's DP-FedAvg: F its secure aggregation fraction bits, C its
    clip norm; ``parties`` the threshold t, ``dim`` d (planning: the :data:`MAX_DIMENSION`
    bound, which sites enforce)."""
    return DDGSetting(parties, dim, privacy.secagg_fraction_bits, privacy.clip_norm)


def dpfedavg_noise(
    privacy: PrivacySpec, rounds: int, parties: int = 1, dim: int = MAX_DIMENSION
) -> float:
    """σ (units of C) of DP-FedAvg: ``privacy.noise_multiplier`` when given, else the smallest
    σ whose DDG ε over ``rounds`` reaches ``privacy.epsilon`` at ``privacy.delta``."""
    if privacy.noise_multiplier is not None:
        return privacy.noise_multiplier
    if privacy.epsilon is None:
        raise ConfigError(
            "privacy.dp = 'dpfedavg' needs privacy.epsilon or privacy.noise_multiplier"
        )
    setting = dpfedavg_setting(privacy, parties, dim)
    return ddg_noise_for_epsilon(privacy.epsilon, rounds, privacy.delta, setting)


def dpfedavg_epsilon(
    privacy: PrivacySpec, rounds: int, parties: int = 1, dim: int = MAX_DIMENSION
) -> float:
    """ε at ``privacy.delta`` of ``rounds`` DDG releases at :func:`dpfedavg_noise`'s σ.

    ``parties`` is the threshold t (the ε grows with t, through τ, by ~0 at F = 40):
    a plan declares it for the most sites it may have; ``dim`` d, bounded by default.
    """
    sigma = dpfedavg_noise(privacy, rounds, parties, dim)
    return ddg_epsilon(sigma, rounds, privacy.delta, dpfedavg_setting(privacy, parties, dim))


def noise_update_ddg(
    clipped: Mapping[str, np.ndarray], noise_multiplier: float, setting: DDGSetting
) -> Arrays:
    """This site's DDG-noised update: steps 1–4 of the module docstring.

    Parameters
    ----------
    clipped:
        the update, clipped to ``setting.clip_norm`` (:func:`clip_update`), d coordinates
        in all (``setting.dim``).
    noise_multiplier:
        σ, the aggregate noise's standard deviation in units of C.
    setting:
        t (``parties``), d, F and C.

    Returns
    -------
    Arrays
        same names and shapes, float64 multiples of 2^−F.

    Raises
    ------
    PrivacyError
        more coordinates than ``setting.dim``, or a noised value too large for an exact
        float64 at F fraction bits (counts only, never values).
    """
    names = sorted(clipped)
    flat = np.concatenate([np.asarray(clipped[k], np.float64).reshape(-1) for k in names])
    if flat.size > setting.dim:
        raise PrivacyError(
            f"DP-FedAvg update has {flat.size} coordinates; the plan's accounting allows "
            f"at most {setting.dim}"
        )
    bits = setting.fraction_bits
    rounded, _ = randomised_round(np.ldexp(flat, bits), setting.l2_sensitivity)
    sigma = Fraction(_check_positive(noise_multiplier, "noise_multiplier"))
    share = sigma**2 * Fraction(setting.clip_norm) ** 2 * 4**bits / setting.parties
    noise = sample_discrete_gaussian(share, flat.size)
    k = [int(r) + z for r, z in zip(rounded.tolist(), noise, strict=True)]
    too_large = sum(abs(v) >= _EXACT for v in k)
    if too_large:
        raise PrivacyError(
            f"DP-FedAvg: {too_large} of {len(k)} noised values exceed 2^53 quanta; "
            "lower secagg_fraction_bits"
        )
    values = np.ldexp(np.array(k, dtype=np.float64), -bits)
    out: Arrays = {}
    start = 0
    for name in names:
        shape = np.shape(clipped[name])
        size = int(np.prod(shape))
        out[name] = values[start : start + size].reshape(shape)
        start += size
    return {name: out[name] for name in clipped}
