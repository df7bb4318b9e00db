"""Fixed-point quantisation of clipped float vectors into the ring Z/2^32.

Secure aggregation sums integers modulo 2^32, so each site maps its clipped update
``x`` (float64, every ``|x| <= clip``) to ``q = clamp(round(x * scale)) + offset`` with
``offset = floor(clip * scale)``; every ``q`` lies in ``[0, 2 * offset]``. The sum of
``n <= n_summands`` such vectors stays below ``2**bits <= 2**32``, so it never wraps and
:meth:`Quantizer.decode_sum` recovers ``(total - n * offset) / scale`` exactly.

Error bound (documented and tested): for each coordinate,
``|decode_sum(sum_i encode(x_i), n) - sum_i x_i| <= n / scale``; the tighter
``n / (2 * scale)`` holds when no ``|x|`` lies within ``1 / scale`` of ``clip`` (the clamp
that keeps the offset integral moves such values by less than one quantum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from accord.core import AggregationError, ConfigError

__all__ = ["Quantizer"]

_MAX_BITS = 32


@dataclass(frozen=True)
class Quantizer:
    """Maps clipped float64 vectors to uint32 and decodes their sum.

    ``clip`` bounds every coordinate's absolute value, ``n_summands`` is the largest
    number of vectors that will be summed (the number of sites), ``bits`` the headroom
    the sum may use (at most 32).
    """

    clip: float
    n_summands: int
    bits: int = 32

    def __post_init__(self) -> None:
        if not isinstance(self.clip, int | float) or not math.isfinite(self.clip) or self.clip <= 0:
            raise ConfigError("quantizer field 'clip': expected a finite number > 0")
        if not isinstance(self.n_summands, int) or self.n_summands < 1:
            raise ConfigError("quantizer field 'n_summands': expected an integer >= 1")
        if not isinstance(self.bits, int) or not 1 <= self.bits <= _MAX_BITS:
            raise ConfigError(f"quantizer field 'bits': expected an integer in 1..{_MAX_BITS}")
        if self.scale < 1 or self.n_summands * 2 * self.offset >= 2**self.bits:
            raise ConfigError(
                f"quantizer: sites × clipping range × weights could overflow 2^{self.bits} "
                f"({self.n_summands} sites, clip ±{self.clip}, scale {self.scale} < 1); "
                "lower clip or the number of sites, or raise bits"
            )

    @property
    def scale(self) -> int:
        """Quanta per unit: ``floor((2**bits - 1) / (2 * clip * n_summands))``, exactly."""
        return int((2**self.bits - 1) // (2 * Fraction(self.clip) * self.n_summands))

    @property
    def offset(self) -> int:
        """What :meth:`encode` adds so every code is non-negative: ``floor(clip * scale)``."""
        return int(Fraction(self.clip) * self.scale)  # positive, so int() is the floor

    def encode(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.uint32]:
        """Quantise a 1-D float vector; :class:`AggregationError` if any ``|x| > clip``."""
        values = np.asarray(x, dtype=np.float64)
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise AggregationError(f"update has {bad} non-finite values; expected finite floats")
        over = int(np.count_nonzero(np.abs(values) > self.clip))
        if over:
            raise AggregationError(
                f"update has {over} of {values.size} values outside ±{self.clip}; "
                "clip the update before masking"
            )
        q = np.clip(np.rint(values * self.scale), -self.offset, self.offset).astype(np.int64)
        return (q + self.offset).astype(np.uint32)

    def decode_sum(
        self, total: npt.NDArray[np.uint32], n_contributors: int
    ) -> npt.NDArray[np.float64]:
        """Float64 sum of ``n_contributors`` encoded vectors from their uint32 sum."""
        if not 1 <= n_contributors <= self.n_summands:
            raise AggregationError(
                f"decode_sum: {n_contributors} contributors; expected 1..{self.n_summands}"
            )
        signed = np.asarray(total, dtype=np.uint32).astype(np.int64) - n_contributors * self.offset
        return signed.astype(np.float64) / self.scale
