"""Linear scales and "nice" tick positions for the SVG charts."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LinearScale", "finite_extent", "format_tick", "nice_domain", "nice_step", "ticks"]


@dataclass(frozen=True)
class LinearScale:
    """Maps data values in ``domain`` (lo < hi) linearly onto pixel positions ``pixels``."""

    domain: tuple[float, float]
    pixels: tuple[float, float]

    def __call__(self, value: float) -> float:
        d0, d1 = self.domain
        p0, p1 = self.pixels
        clipped = min(max(value, d0), d1)
        return p0 + (clipped - d0) / (d1 - d0) * (p1 - p0)


def finite_extent(arrays: Iterable[npt.NDArray[np.float64]]) -> tuple[float, float] | None:
    """Smallest and largest finite value over ``arrays``; None when there is none."""
    lo, hi = math.inf, -math.inf
    for array in arrays:
        finite = array[np.isfinite(array)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return (lo, hi) if lo <= hi else None


def nice_step(span: float, target: int = 5) -> float:
    """A tick step of 1, 2 or 5 times a power of ten giving about ``target`` intervals."""
    raw = span / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 5.0):
        if raw <= multiple * magnitude:
            return multiple * magnitude
    return 10.0 * magnitude


def nice_domain(extent: tuple[float, float] | None, target: int = 5) -> tuple[float, float]:
    """``extent`` widened outwards to whole tick steps; (0, 1) when there is no data."""
    if extent is None:
        return 0.0, 1.0
    lo, hi = extent
    if hi - lo <= 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = 0.5 if lo == 0 else abs(lo) * 0.1
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, target)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def ticks(domain: tuple[float, float], target: int = 5) -> tuple[list[float], float]:
    """Tick values inside ``domain`` and the step between them."""
    lo, hi = domain
    step = nice_step(hi - lo, target)
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)], step


def format_tick(value: float, step: float) -> str:
    """``value`` with as many decimals as ``step`` needs and thousands separators."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if abs(value) < step * 1e-6:
        value = 0.0
    return f"{value:,.{decimals}f}"
