"""Fixed-point quantisation: scale, headroom check, range errors and the error bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import AggregationError, ConfigError
from accord.crypto.secagg import Quantizer


class TestScale:
    def test_scale_is_the_documented_floor(self) -> None:
        q = Quantizer(clip=1.0, n_summands=100)
        assert q.scale == (2**32 - 1) // 200
        assert q.offset == q.scale

    def test_fractional_clip_keeps_the_sum_below_2_pow_32(self) -> None:
        q = Quantizer(clip=3.7, n_summands=7)
        assert q.n_summands * 2 * q.offset < 2**32

    @pytest.mark.parametrize(
        ("clip", "n", "bits"), [(1e9, 10, 32), (2.0**31, 1, 32), (1.0, 200, 8), (0.5, 2**32, 32)]
    )
    def test_headroom_error_names_the_overflow(self, clip: float, n: int, bits: int) -> None:
        with pytest.raises(
            ConfigError, match=r"sites × clipping range × weights could overflow 2\^\d+"
        ):
            Quantizer(clip=clip, n_summands=n, bits=bits)

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"clip": 0.0, "n_summands": 3}, "clip"),
            ({"clip": float("nan"), "n_summands": 3}, "clip"),
            ({"clip": 1.0, "n_summands": 0}, "n_summands"),
            ({"clip": 1.0, "n_summands": 3, "bits": 33}, "bits"),
        ],
    )
    def test_bad_fields(self, kwargs: dict[str, float], field: str) -> None:
        with pytest.raises(ConfigError, match=f"'{field}'"):
            Quantizer(**kwargs)  # type: ignore[arg-type]


class TestEncode:
    def test_out_of_range_counts_but_never_shows_values(self) -> None:
        q = Quantizer(clip=1.0, n_summands=3)
        x = np.array([0.5, 1.23456, -7.891, 0.0])
        with pytest.raises(AggregationError, match=r"2 of 4 values outside ±1.0") as info:
            q.encode(x)
        assert "1.23456" not in str(info.value) and "7.891" not in str(info.value)

    def test_non_finite_rejected(self) -> None:
        q = Quantizer(clip=1.0, n_summands=3)
        with pytest.raises(AggregationError, match="1 non-finite"):
            q.encode(np.array([0.0, np.nan]))

    def test_codes_span_zero_to_twice_the_offset(self) -> None:
        q = Quantizer(clip=2.0, n_summands=5)
        codes = q.encode(np.array([-2.0, 0.0, 2.0]))
        assert codes.dtype == np.uint32
        assert codes.tolist() == [0, q.offset, 2 * q.offset]

    def test_too_many_contributors_rejected(self) -> None:
        q = Quantizer(clip=1.0, n_summands=3)
        with pytest.raises(AggregationError, match="4 contributors"):
            q.decode_sum(np.zeros(2, np.uint32), 4)


@settings(max_examples=60, deadline=None)
@given(
    clip=st.floats(1e-3, 1e3),
    n=st.integers(1, 200),
    bits=st.integers(20, 32),
    data=st.data(),
)
def test_sum_error_within_documented_bound(
    clip: float, n: int, bits: int, data: st.DataObject
) -> None:
    """|decode_sum(Σ encode(x_i)) − Σ x_i| <= n / scale, and the sum never wraps."""
    q = Quantizer(clip=clip, n_summands=n, bits=bits)
    length = data.draw(st.integers(1, 20))
    contributors = data.draw(st.integers(1, n))
    values = st.floats(-clip, clip, allow_nan=False)
    xs = np.array(
        data.draw(st.lists(values, min_size=contributors * length, max_size=contributors * length))
    )
    xs = xs.reshape(contributors, length)
    total = np.zeros(length, np.uint64)
    for row in xs:
        total += q.encode(row)
    assert int(total.max()) < 2**bits
    decoded = q.decode_sum(total.astype(np.uint32), contributors)
    assert np.all(np.abs(decoded - xs.sum(axis=0)) <= contributors / q.scale + 1e-9 * clip * n)
