"""Validation of privacy parameters shared by the privacy modules.

Every helper raises :class:`accord.core._errors.ConfigError` naming the parameter, the kind
of bad value and what was expected.
"""

from __future__ import annotations

import math

from accord.core import ConfigError


def _check_positive(value: float, name: str) -> float:
    """``value`` as a float that is finite and > 0."""
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name} is {value!r}; expected a finite number > 0")
    return number


def _check_rate(value: float, name: str = "sample_rate") -> float:
    """A probability in (0, 1]."""
    number = float(value)
    if not (0.0 < number <= 1.0):
        raise ConfigError(f"{name} is {value!r}; expected a probability in (0, 1]")
    return number


def _check_delta(value: float) -> float:
    """δ of (ε, δ)-DP, in the open interval (0, 1)."""
    number = float(value)
    if not (0.0 < number < 1.0):
        raise ConfigError(f"delta is {value!r}; expected a probability in (0, 1)")
    return number


def _check_count(value: int, name: str) -> int:
    """A whole number >= 1 (steps, rounds, sites, batch sizes)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} is {value!r}; expected a whole number >= 1")
    return value
