"""Site-level DP-FedAvg (McMahan et al. 2018): clip each site's update, noise the sum.

The unit of privacy is a whole site: add or remove one site changes the sum of clipped
updates by at most ``clip_norm`` in L2 norm, so Gaussian noise of standard deviation
``noise_multiplier · clip_norm`` added *once to the sum* gives the guarantee that
:func:`accord.privacy._accounting.gaussian_mechanism_epsilon` reports for the number of
rounds (and the per-round site sampling rate).

Two conditions the caller must keep:

- Clip what enters the sum. If the strategy weights updates (e.g. by cohort size) before
  summing, clip the *weighted* update, or the sensitivity is the largest weight times C.
  The divisor that turns the noisy sum into a mean must not depend on private data: use
  the number of sites (or its expectation), not the sum of cohort sizes.
- Noise the sum exactly once. With plain aggregation the hub calls
  :func:`noise_aggregate` on the sum. With secure aggregation the hub only ever sees the
  unmasked sum, so either the hub adds the noise after unmasking (sites must then trust
  the hub with the noise, not with their updates), or the noise is *distributed*: each
  site adds :func:`site_noise_share` (variance σ²C²/n) to its clipped update before
  masking, and the n shares add up to the required σ²C². Set ``n_sites`` to the secure
  aggregation threshold t (the fewest sites whose sum can be unmasked): if more than t
  sites survive the sum is over-noised, which is safe; if n were the full roster and sites
  dropped out, the sum would be under-noised. Distributed noise protects a site against
  the hub and outsiders; a coalition of k sites that pools its own shares removes them,
  leaving (t - k) / t of the variance against that coalition.

Secure aggregation's fixed-point quantisation rounds each noised update before summing;
that rounding (at most half a quantum per element) is not part of the accounting here
(Kairouz et al. 2021, the distributed discrete Gaussian, treat it exactly).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from accord.core import AggregationError, Arrays
from accord.privacy._checks import _check_count, _check_positive

__all__ = ["clip_update", "noise_aggregate", "site_noise_share"]


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


def noise_aggregate(
    summed: Mapping[str, np.ndarray],
    clip_norm: float,
    noise_multiplier: float,
    rng: np.random.Generator,
) -> Arrays:
    """``summed`` plus N(0, (σ·C)²) noise on every element (arrays taken in sorted-name order).

    ``summed`` is the sum of updates each clipped to ``clip_norm``. The noise is drawn in
    the order of the sorted array names, so the result does not depend on dict order.
    """
    std = _check_positive(noise_multiplier, "noise_multiplier") * _check_positive(
        clip_norm, "clip_norm"
    )
    noisy: Arrays = {}
    for name in sorted(summed):
        value = np.asarray(summed[name], dtype=np.float64)
        noisy[name] = value + rng.normal(0.0, std, size=value.shape)
    return {name: noisy[name] for name in summed}


def site_noise_share(
    shape: tuple[int, ...],
    clip_norm: float,
    noise_multiplier: float,
    n_sites: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    """One site's share of distributed noise: N(0, (σ·C)² / n) per element.

    The sum of ``n_sites`` independent shares is N(0, (σ·C)²), the noise
    :func:`noise_aggregate` would add centrally. Each site draws from its own secret,
    fresh ``rng``; ``n_sites`` should be the secure aggregation threshold (module docstring).
    """
    std = _check_positive(noise_multiplier, "noise_multiplier") * _check_positive(
        clip_norm, "clip_norm"
    )
    n = _check_count(n_sites, "n_sites")
    return rng.normal(0.0, std / np.sqrt(n), size=shape)
