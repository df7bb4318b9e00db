"""Shamir t-of-n over GF(2^256 + 297): primality, reconstruction, threshold, encoding."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import AggregationError, ConfigError, TransportError
from accord.crypto.secagg import _shamir as shamir

# Deterministic Miller–Rabin bases: the first 40 primes. A composite passes all 40 rounds
# with probability below 4^-40; for the known-prime check that is ample.
_BASES = [p for p in range(2, 180) if all(p % d for d in range(2, p))][:40]


def is_probable_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in _BASES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in _BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def test_field_is_the_smallest_prime_above_2_pow_256() -> None:
    assert shamir.PRIME == 2**256 + 297
    assert is_probable_prime(shamir.PRIME)
    assert not any(is_probable_prime(2**256 + c) for c in range(1, 297))


def test_miller_rabin_rejects_known_composites() -> None:
    carmichael = 561
    assert not is_probable_prime(carmichael)
    assert not is_probable_prime((2**127 - 1) * (2**89 - 1))
    assert is_probable_prime(2**127 - 1)


def test_every_t_subset_reconstructs_and_t_minus_1_does_not() -> None:
    secret = os.urandom(32)
    shares = shamir.split(secret, 3, [1, 2, 3, 4, 5])
    for subset in itertools.combinations(shares, 3):
        assert shamir.combine({x: shares[x] for x in subset}, 3) == secret
    for pair in itertools.combinations(shares, 2):
        with pytest.raises(AggregationError, match="2 shares; need at least 3"):
            shamir.combine({x: shares[x] for x in pair}, 3)


@settings(max_examples=40, deadline=None)
@given(
    secret=st.binary(min_size=32, max_size=32),
    holders=st.lists(st.integers(1, 10_000), min_size=1, max_size=15, unique=True),
    data=st.data(),
)
def test_any_threshold_subset_reconstructs(
    secret: bytes, holders: list[int], data: st.DataObject
) -> None:
    t = data.draw(st.integers(1, len(holders)))
    shares = shamir.split(secret, t, holders)
    chosen = data.draw(st.lists(st.sampled_from(holders), min_size=t, max_size=t, unique=True))
    assert shamir.combine({x: shares[x] for x in chosen}, t) == secret


@settings(max_examples=30, deadline=None)
@given(secret=st.binary(min_size=32, max_size=32), t=st.integers(2, 8))
def test_t_minus_1_shares_fit_any_secret(secret: bytes, t: int) -> None:
    """t-1 shares plus any guessed point interpolate to a secret that is almost never ours."""
    shares = shamir.split(secret, t, list(range(1, t + 1)))
    partial = {x: shares[x] for x in range(1, t)}
    forged = {**partial, t: (shares[t] + 1) % shamir.PRIME}
    try:
        guess = shamir.combine(forged, t)
    except AggregationError:
        return  # interpolated outside 32 bytes: also no information
    assert guess != secret


def test_share_encoding_round_trip_and_errors() -> None:
    y = shamir.PRIME - 1
    data = shamir.encode_share(7, y)
    assert len(data) == shamir.SHARE_BYTES
    assert shamir.decode_share(data) == (7, y)
    with pytest.raises(TransportError, match="expected 37"):
        shamir.decode_share(data[:-1])
    with pytest.raises(TransportError, match="out of range"):
        shamir.decode_share(bytes(4) + data[4:])


def test_split_validates_its_inputs() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        shamir.split(b"short", 2, [1, 2])
    with pytest.raises(ConfigError, match="distinct"):
        shamir.split(bytes(32), 2, [1, 1])
    with pytest.raises(ConfigError, match="threshold 3"):
        shamir.split(bytes(32), 3, [1, 2])
