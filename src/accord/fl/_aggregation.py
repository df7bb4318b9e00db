"""Pure array maths over named arrays. The hub sees arrays only: no torch here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from accord.core import AggregationError, Arrays

__all__ = ["WeightedSum", "add_arrays", "scale_arrays", "sum_contributions", "weighted_mean"]


@dataclass(frozen=True)
class WeightedSum:
    """The sum of site contributions: what plain summation and secure aggregation both yield.

    ``arrays[k]`` is Σ_i a_i[k] over contributing sites (sites pre-multiply by their weight
    where the strategy asks for a weighted mean), ``weight`` is Σ_i w_i and ``count`` the
    number of contributing sites. ``resolution`` bounds the rounding error of every summed
    entry: 0 for a plain float sum, ``count · 2^-(F+1)`` for a secure sum in fixed point
    with F fraction bits (each site's value is rounded to the nearest quantum 2^-F).
    """

    arrays: Arrays
    weight: float
    count: int
    counts: dict[str, int] = field(default_factory=dict)
    resolution: float = 0.0


def add_arrays(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> Arrays:
    """Element-wise a + b over the same keys and shapes."""
    if a.keys() != b.keys():
        missing = sorted(set(a) ^ set(b))
        raise AggregationError(f"contributions disagree on array names: {missing}")
    out: Arrays = {}
    for key, value in a.items():
        if value.shape != b[key].shape:
            raise AggregationError(
                f"array '{key}' has shape {b[key].shape} in one contribution, "
                f"{value.shape} in another"
            )
        out[key] = value + b[key]
    return out


def scale_arrays(a: Mapping[str, np.ndarray], factor: float) -> Arrays:
    """Every array multiplied by ``factor``."""
    return {k: v * factor for k, v in a.items()}


def sum_contributions(
    contributions: Iterable[tuple[Mapping[str, np.ndarray], float, Mapping[str, int]]],
) -> WeightedSum:
    """Sum (arrays, weight, counts) triples into one :class:`WeightedSum`."""
    total: Arrays | None = None
    weight, count = 0.0, 0
    counts: dict[str, int] = {}
    for arrays, w, c in contributions:
        as_float = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
        total = as_float if total is None else add_arrays(total, as_float)
        weight += float(w)
        count += 1
        for key, value in c.items():
            counts[key] = counts.get(key, 0) + int(value)
    if total is None:
        raise AggregationError("no site contributed to this round")
    return WeightedSum(arrays=total, weight=weight, count=count, counts=counts)


def weighted_mean(summed: WeightedSum, prefix: str) -> Arrays:
    """Σ w_i a_i / Σ w_i for the arrays named ``prefix + name``, returned under ``name``."""
    if summed.weight <= 0:
        raise AggregationError("total weight of the contributions is zero")
    return {
        k[len(prefix) :]: v / summed.weight
        for k, v in summed.arrays.items()
        if k.startswith(prefix)
    }
