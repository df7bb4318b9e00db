"""Fixed-point encoding in (Z/2^64)²: headroom check, range errors, exact sums, error bound."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import AggregationError, ConfigError
from accord.crypto.secagg import Quantizer
from accord.crypto.secagg._quantize import DEFAULT_FRACTION_BITS

MASK = 2**64 - 1


def _wrapped_sum(q: Quantizer, rows: np.ndarray) -> np.ndarray:
    """Σ encode(row) word by word modulo 2^64 (what unmasking leaves)."""
    total = np.zeros(2 * rows.shape[1], np.uint64)
    for row in rows:
        total += q.encode(row)
    return total


def _exact(rows: np.ndarray) -> list[Fraction]:
    return [sum((Fraction(float(v)) for v in column), Fraction(0)) for column in rows.T]


def _bound(q: Quantizer, n: int, got: float) -> Fraction:
    """n · 2^−(F+1) + half an ulp of the result (it is correctly rounded)."""
    return Fraction(q.error_bound(n)) + Fraction(math.ulp(abs(got))) / 2


class TestSettings:
    def test_defaults_hold_values_up_to_1e12_from_thousands_of_sites(self) -> None:
        q = Quantizer(clip=1e12, n_summands=18_000)
        assert q.fraction_bits == DEFAULT_FRACTION_BITS == 40 and q.scale == 2.0**40

    @pytest.mark.parametrize(
        ("clip", "n", "bits"), [(1e12, 18_100, 40), (1e15, 100, 40), (1e9, 2, 64), (1e-3, 2**32, 0)]
    )
    def test_headroom_error_names_the_settings(self, clip: float, n: int, bits: int) -> None:
        with pytest.raises(ConfigError, match=r"could overflow the 96-bit fixed-point sum"):
            Quantizer(clip=clip, n_summands=n, fraction_bits=bits)

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"clip": 0.0, "n_summands": 3}, "clip"),
            ({"clip": float("nan"), "n_summands": 3}, "clip"),
            ({"clip": 1.0, "n_summands": 0}, "n_summands"),
            ({"clip": 1.0, "n_summands": 3, "fraction_bits": 65}, "fraction_bits"),
            ({"clip": 1.0, "n_summands": 3, "fraction_bits": -1}, "fraction_bits"),
        ],
    )
    def test_bad_fields(self, kwargs: dict[str, float], field: str) -> None:
        with pytest.raises(ConfigError, match=f"'{field}'"):
            Quantizer(**kwargs)  # type: ignore[arg-type]


class TestEncode:
    def test_out_of_range_counts_but_never_shows_values(self) -> None:
        q = Quantizer(clip=1.0, n_summands=3)
        x = np.array([0.5, 1.23456, -7.891, 0.0])
        with pytest.raises(AggregationError, match=r"2 of 4 values outside ±1") as info:
            q.encode(x)
        assert "1.23456" not in str(info.value) and "7.891" not in str(info.value)

    def test_non_finite_rejected(self) -> None:
        q = Quantizer(clip=1.0, n_summands=3)
        with pytest.raises(AggregationError, match="1 of 2 values not finite"):
            q.encode(np.array([0.0, np.nan]))

    def test_words_are_hi_then_lo_of_the_fixed_point_value(self) -> None:
        q = Quantizer(clip=1e12, n_summands=5)
        x = np.array([-1.0, 0.0, 2.0**-40, 1e12])
        words = q.encode(x)
        assert words.dtype == np.uint64 and words.shape == (8,)
        for i, value in enumerate(x):
            fixed = int(Fraction(float(value)) * 2**40)
            hi, lo = int(words[i]), int(words[4 + i])
            assert lo < 2**32
            assert ((hi - 2**64 if hi >= 2**63 else hi) << 32) + lo == fixed

    def test_the_integer_and_the_float_split_agree(self) -> None:
        """Below 2^62 quanta the words come from int64 shifts, above from float floors."""
        q = Quantizer(clip=1e12, n_summands=5)
        small = np.random.default_rng(1).uniform(-4e6, 4e6, 1000)  # < 2^22: the int path
        alone, with_big = q.encode(small), q.encode(np.append(small, 1e12))
        assert np.array_equal(alone[:1000], with_big[:1000])  # hi words
        assert np.array_equal(alone[1000:], with_big[1001:2001])  # lo words

    def test_too_many_contributors_rejected(self) -> None:
        q = Quantizer(clip=1.0, n_summands=3)
        with pytest.raises(AggregationError, match="4 contributors"):
            q.decode_sum(np.zeros(2, np.uint64), 4)


def test_hundred_sites_of_values_up_to_1e9_sum_exactly() -> None:
    """Values ≥ 2^12 in magnitude are exact at F = 40, so the sum is the float64 nearest
    the exact real sum; below 2^33 in magnitude that is within 1e-6."""
    rng = np.random.default_rng(5)  # test data only
    rows = rng.uniform(-1e9, 1e9, (100, 400))
    rows[:, :50] = rng.uniform(-1.0, 1.0, (100, 50))  # small values beside large ones
    rows[:50, 50:100] *= -1e-9  # sums of large values that nearly cancel
    rows[50:, 50:100] = -rows[:50, 50:100]
    q = Quantizer(clip=1e12, n_summands=100)
    decoded = q.decode_sum(_wrapped_sum(q, rows), 100)
    for got, exact in zip(decoded, _exact(rows), strict=True):
        assert abs(Fraction(float(got)) - exact) <= _bound(q, 100, float(got))
        if abs(exact) <= 2**33:
            assert abs(float(got) - float(exact)) <= 1e-6


def test_pair_counts_of_large_cohorts_sum_exactly() -> None:
    """Comparable-pair counts of 10⁵..10⁶-patient sites (up to 5e11) add up to the integer."""
    counts = np.array([[float(n * (n - 1) // 2)] for n in (10**5, 3 * 10**5, 10**6, 7)])
    q = Quantizer(clip=1e12, n_summands=4)
    total = q.decode_sum(_wrapped_sum(q, counts), 4)
    assert int(total[0]) == sum(n * (n - 1) // 2 for n in (10**5, 3 * 10**5, 10**6, 7))


@settings(max_examples=80, deadline=None)
@given(
    clip_exp=st.integers(-3, 12),
    n=st.integers(1, 100),
    bits=st.integers(0, 52),
    data=st.data(),
)
def test_sum_error_within_documented_bound(
    clip_exp: int, n: int, bits: int, data: st.DataObject
) -> None:
    """|decode_sum(Σ encode(x_i)) − Σ x_i| <= n · 2^−(F+1) + ½ ulp, for any values in range."""
    clip = 10.0**clip_exp
    if n * (Fraction(clip) * 2**bits + 1) > 2**94:
        bits = 40 if n * (Fraction(clip) * 2**40 + 1) <= 2**94 else 30
    q = Quantizer(clip=clip, n_summands=n, fraction_bits=bits)
    length = data.draw(st.integers(1, 8))
    contributors = data.draw(st.integers(1, n))
    values = st.floats(-clip, clip, allow_nan=False, allow_subnormal=True)
    flat = data.draw(
        st.lists(values, min_size=contributors * length, max_size=contributors * length)
    )
    rows = np.array(flat, dtype=np.float64).reshape(contributors, length)
    decoded = q.decode_sum(_wrapped_sum(q, rows), contributors)
    for got, exact in zip(decoded, _exact(rows), strict=True):
        assert abs(Fraction(float(got)) - exact) <= _bound(q, contributors, float(got))
