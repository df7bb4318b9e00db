"""Input validation shared by the survival modules.

Every helper raises :class:`accord.core._errors.DataError` with a message that names the
argument, the kind of bad value and what was expected, never a value itself.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from accord.core import DataError

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
IntArray: TypeAlias = npt.NDArray[np.int64]


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _check_vector(values: npt.ArrayLike, name: str) -> FloatArray:
    """Return ``values`` as a finite 1-D float64 array."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} is not numeric; expected a 1-D array of numbers") from exc
    if array.ndim != 1:
        raise DataError(f"{name} has {array.ndim} dimensions; expected 1")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise DataError(f"{name} has {_count(bad, 'non-finite value')}; expected finite numbers")
    return array


def _check_time(values: npt.ArrayLike, name: str = "time") -> FloatArray:
    """Return survival times (days) as a finite, non-negative 1-D float64 array."""
    time = _check_vector(values, name)
    negative = int(np.count_nonzero(time < 0))
    if negative:
        raise DataError(f"{name} has {_count(negative, 'negative value')}; expected >= 0")
    return time


def _check_event(values: npt.ArrayLike, n: int, name: str = "event") -> BoolArray:
    """Return event indicators (1 = event observed) as a 1-D bool array of length ``n``."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name} has {array.ndim} dimensions; expected 1")
    if array.shape[0] != n:
        raise DataError(f"{name} has {array.shape[0]} entries; expected {n} (one per time)")
    if array.dtype == np.bool_:
        flags: BoolArray = array.astype(np.bool_)
        return flags
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{name} is not numeric or boolean; expected 0/1 values")
    bad = int(np.count_nonzero((array != 0) & (array != 1)))
    if bad:
        raise DataError(f"{name} has {_count(bad, 'value')} other than 0 and 1; expected 0/1")
    observed: BoolArray = array == 1
    return observed


def _check_survival(
    time: npt.ArrayLike, event: npt.ArrayLike, prefix: str = ""
) -> tuple[FloatArray, BoolArray]:
    """Validate a (time, event) pair of equal length; ``prefix`` names e.g. ``"train"``."""
    time_name = f"time_{prefix}" if prefix else "time"
    event_name = f"event_{prefix}" if prefix else "event"
    checked_time = _check_time(time, time_name)
    checked_event = _check_event(event, checked_time.shape[0], event_name)
    return checked_time, checked_event


def _check_same_length(values: FloatArray, n: int, name: str) -> FloatArray:
    """Check that a 1-D array has ``n`` entries (one per subject)."""
    if values.shape[0] != n:
        raise DataError(f"{name} has {values.shape[0]} entries; expected {n} (one per time)")
    return values


def _check_not_empty(n: int, name: str = "time") -> None:
    """Refuse empty inputs."""
    if n == 0:
        raise DataError(f"{name} is empty; expected at least one subject")


def _check_times(times: npt.ArrayLike) -> FloatArray:
    """Evaluation times (days): finite, non-negative, strictly increasing."""
    checked = _check_vector(times, "times")
    _check_not_empty(checked.shape[0], "times")
    if np.any(np.diff(checked) <= 0):
        raise DataError("times is not strictly increasing; expected sorted unique times")
    return checked


def _check_times_in_follow_up(times: npt.ArrayLike, time: FloatArray) -> FloatArray:
    """Evaluation times must lie in [min(time), max(time)) of the test data."""
    checked = _check_times(times)
    _check_not_empty(time.shape[0])
    outside = int(np.count_nonzero((checked < time.min()) | (checked >= time.max())))
    if outside:
        raise DataError(
            f"times has {outside} values outside the follow-up of the test data; "
            "expected min(time) <= times < max(time)"
        )
    return checked


def _check_matrix(values: npt.ArrayLike, shape: tuple[int, int], name: str) -> FloatArray:
    """A finite float64 matrix of the given shape; a 1-D array is repeated across columns."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1 and array.shape[0] == shape[0]:
        array = np.repeat(array[:, None], shape[1], axis=1)
    if array.shape != shape:
        raise DataError(f"{name} has shape {array.shape}; expected {shape} (subjects x times)")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise DataError(f"{name} has {_count(bad, 'non-finite value')}; expected finite numbers")
    return array
