"""Fixed-point encoding of float vectors into the ring (Z/2^64)², and the exact sum back.

Why this ring. A site's summed values range from DP-clipped updates (|x| ~ 1) to Cox
Hessians, log-likelihoods and evaluation pair counts of large cohorts (a 10⁵-patient site
counts ~5·10⁹ comparable pairs), and the hub must get their sum to float64 accuracy: the
federated Newton–Raphson fit must equal the pooled one. No 32-bit (or 64-bit) word holds
both: 100 sites × ±10¹² summed to 10⁻⁶ already needs ~73 bits. So each coordinate becomes a
96-bit fixed-point integer split into two 64-bit words, each masked in its own Z/2^64:

    q  = rint(x · 2^F)                      (exact: 2^F is a power of two, F = fraction_bits)
    hi = floor(q / 2^32)   signed, stored as its 64-bit two's complement
    lo = q − hi · 2^32     in [0, 2^32)

so ``q = hi · 2^32 + lo``. Summed over n < 2^32 sites, the ``lo`` words stay below
n · 2^32 < 2^64 and never wrap (no carry between the words), and the ``hi`` words wrap
only as the two's complement of a sum whose magnitude the headroom check keeps below
2^62. :meth:`Quantizer.decode_sum` folds the carry of the ``lo`` sum into the ``hi`` sum,
H = Σhi + ⌊Σlo / 2^32⌋ and r = Σlo mod 2^32, and returns ``H · 2^(32−F) + r · 2^−F``.

Error bound (documented and tested), per coordinate, for n summands of |x| <= clip:

* quantisation: ``|q/2^F − x| <= 2^−(F+1)`` per value, and 0 when |x| >= 2^(52−F)
  (such a float is already a multiple of 2^−F), so the integer sum is within
  ``n · 2^−(F+1)`` of the exact real sum (4.5e-11 for n = 100 at the default F = 40);
* decoding: the float64 nearest ``Σq / 2^F`` (correctly rounded: one float64 rounding
  while |H| < 2^53, i.e. |sum| < 2^(85−F) = 3.5e13 at F = 40; exact integer arithmetic
  for the rare larger coordinates).

So ``|decode_sum − Σx| <= n · 2^−(F+1) + ½ ulp(decode_sum)``: as exact as a float64
result can be, and more exact than summing the floats themselves. The ulp term exceeds
10⁻⁶ only for |sum| > 2^33 ≈ 8.6e9, where no float64 resolves 10⁻⁶.

Headroom (checked when a :class:`Quantizer` is made, a :class:`ConfigError` otherwise):
``n_summands · (clip · 2^F + 1) <= 2^94`` and ``n_summands < 2^32``. At the defaults
(clip 10¹², F = 40) that is up to 18,014 sites; values up to 10¹² per site fit. A value beyond the
clip, or not finite, cannot be encoded: :meth:`Quantizer.encode` raises
:class:`AggregationError` with counts only (never the values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from accord.core import AggregationError, ConfigError

__all__ = ["DEFAULT_FRACTION_BITS", "WORDS", "Quantizer"]

DEFAULT_FRACTION_BITS = 40
WORDS = 2  # 64-bit ring words per coordinate: hi, then lo
_LO_BITS = 32
_LO = float(2**_LO_BITS)
_HEADROOM = 2**94  # |Σq| below this keeps |Σhi + carries| < 2^63
_MAX_FRACTION_BITS = 64


@dataclass(frozen=True)
class Quantizer:
    """Encodes float vectors of ``|x| <= clip`` as 64-bit ring words; decodes their sum.

    ``clip`` bounds every coordinate's absolute value, ``n_summands`` is the largest
    number of vectors that will be summed (the number of sites), ``fraction_bits`` F the
    fixed-point precision (the quantum is 2^−F). A vector of length L encodes to 2L words:
    the L ``hi`` words, then the L ``lo`` words.
    """

    clip: float
    n_summands: int
    fraction_bits: int = DEFAULT_FRACTION_BITS

    def __post_init__(self) -> None:
        if not isinstance(self.clip, int | float) or not math.isfinite(self.clip) or self.clip <= 0:
            raise ConfigError("quantizer field 'clip': expected a finite number > 0")
        if not isinstance(self.n_summands, int) or self.n_summands < 1:
            raise ConfigError("quantizer field 'n_summands': expected an integer >= 1")
        bits = self.fraction_bits
        if not isinstance(bits, int) or isinstance(bits, bool) or not 0 <= bits <= 64:
            raise ConfigError(
                f"quantizer field 'fraction_bits': expected an integer in 0..{_MAX_FRACTION_BITS}"
            )
        too_many = self.n_summands >= 2**_LO_BITS  # the lo words' sum would wrap
        if too_many or self.n_summands * (Fraction(self.clip) * 2**bits + 1) > _HEADROOM:
            raise ConfigError(
                f"quantizer: {self.n_summands} sites × clip ±{self.clip:g} at {bits} fraction "
                "bits could overflow the 96-bit fixed-point sum; lower secagg_clip, "
                "secagg_fraction_bits or the number of sites"
            )

    @property
    def scale(self) -> float:
        """Quanta per unit, 2^F."""
        return float(2**self.fraction_bits)

    def error_bound(self, n_contributors: int) -> float:
        """The quantisation part of the error of a sum of ``n_contributors`` vectors."""
        return n_contributors / (2 * self.scale)

    def encode(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.uint64]:
        """2L uint64 words of a 1-D float vector of length L; :class:`AggregationError`
        (counts only) if any value is not finite or ``|x| > clip``."""
        values = np.asarray(x, dtype=np.float64).reshape(-1)
        magnitude = np.abs(values)
        if np.count_nonzero(~(magnitude <= self.clip)):  # NaN compares False: caught here
            self._refuse(values)
        q = np.multiply(values, self.scale)  # exact: a power of two, and no overflow
        np.rint(q, out=q)  # integral floats from here on
        out = np.empty(WORDS * values.size, np.uint64)
        hi, lo = out[: values.size].view(np.int64), out[values.size :].view(np.int64)
        if values.size and float(magnitude.max()) * self.scale < 2.0**62:
            fixed = q.astype(np.int64)  # exact below 2^63
            np.right_shift(fixed, _LO_BITS, out=hi)  # floor division by 2^32
            np.bitwise_and(fixed, 2**_LO_BITS - 1, out=lo)
            return out
        high = np.floor(q / _LO)  # the same split in floats, for |q| up to 2^94
        hi[:] = high.astype(np.int64)
        lo[:] = (q - high * _LO).astype(np.int64)  # exact: an integer in [0, 2^32)
        return out

    def _refuse(self, values: npt.NDArray[np.float64]) -> None:
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise AggregationError(
                f"update has {bad} of {values.size} values not finite; expected finite floats"
            )
        over = int(np.count_nonzero(np.abs(values) > self.clip))
        raise AggregationError(
            f"update has {over} of {values.size} values outside ±{self.clip:g}; "
            "raise secagg_clip or rescale the update before masking"
        )

    def decode_sum(
        self, total: npt.NDArray[np.uint64], n_contributors: int
    ) -> npt.NDArray[np.float64]:
        """Float64 sum of ``n_contributors`` encoded vectors from their word-wise sum
        (modulo 2^64); see the module docstring for its error bound."""
        if not 1 <= n_contributors <= self.n_summands:
            raise AggregationError(
                f"decode_sum: {n_contributors} contributors; expected 1..{self.n_summands}"
            )
        words = np.asarray(total, dtype=np.uint64)
        if words.ndim != 1 or words.size % WORDS:
            raise AggregationError(f"decode_sum: {words.size} words; expected {WORDS} per value")
        length = words.size // WORDS
        hi, lo = words[:length].view(np.int64), words[length:]
        high = hi + (lo >> np.uint64(_LO_BITS)).astype(np.int64)  # no overflow: headroom
        rest = (lo & np.uint64(2**_LO_BITS - 1)).astype(np.float64)
        bits = self.fraction_bits
        out = np.ldexp(high.astype(np.float64), _LO_BITS - bits) + np.ldexp(rest, -bits)
        for i in np.flatnonzero(np.abs(high) >= 2**53):  # float(high) would round: exactly
            out[i] = float(Fraction((int(high[i]) << _LO_BITS) + int(rest[i]), 2**bits))
        return out
