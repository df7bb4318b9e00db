"""t-of-n Shamir secret sharing of 32-byte secrets over GF(p), p = 2^256 + 297.

p is the smallest prime above 2^256 (checked by a Miller–Rabin test in
``tests/crypto/secagg/test_shamir.py``), so every 32-byte secret is a field element.
A secret is the constant term of a random polynomial of degree ``threshold - 1``; holder
``x`` (an integer >= 1, the holder's 1-based index) receives ``f(x)``. Any ``threshold``
shares interpolate ``f(0)``; fewer reveal nothing about it. Coefficients come from
:mod:`secrets`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from accord.core import AggregationError, ConfigError, TransportError

__all__ = [
    "PRIME",
    "SECRET_BYTES",
    "SHARE_BYTES",
    "combine",
    "decode_share",
    "encode_share",
    "split",
]

PRIME = 2**256 + 297
SECRET_BYTES = 32
_X_BYTES = 4
_Y_BYTES = 33
SHARE_BYTES = _X_BYTES + _Y_BYTES


def _check_split(secret: bytes, threshold: int, holders: Sequence[int]) -> None:
    if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
        raise ConfigError(f"shamir: secret must be {SECRET_BYTES} bytes")
    if len(set(holders)) != len(holders) or any(x < 1 or x >= 2 ** (8 * _X_BYTES) for x in holders):
        raise ConfigError("shamir: holders must be distinct integers in 1..2^32-1")
    if not 1 <= threshold <= len(holders):
        raise ConfigError(f"shamir: threshold {threshold} must lie in 1..{len(holders)} holders")


def split(secret: bytes, threshold: int, holders: Sequence[int]) -> dict[int, int]:
    """Shares ``{x: f(x)}`` of a 32-byte secret, one per holder index ``x >= 1``."""
    _check_split(secret, threshold, holders)
    coefficients = [int.from_bytes(secret, "big")]
    coefficients += [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    shares: dict[int, int] = {}
    for x in holders:
        y = 0
        for c in reversed(coefficients):  # Horner
            y = (y * x + c) % PRIME
        shares[x] = y
    return shares


def combine(shares: Mapping[int, int], threshold: int) -> bytes:
    """The 32-byte secret from at least ``threshold`` shares (the first ``threshold`` by x).

    :class:`AggregationError` below the threshold, or when the shares interpolate to a
    value of more than 32 bytes (gross corruption only: shares are not authenticated
    here; the protocol checks a reconstructed mask key against its public key).
    """
    if threshold < 1 or len(shares) < threshold:
        raise AggregationError(f"shamir: {len(shares)} shares; need at least {threshold}")
    points = sorted(shares.items())[:threshold]
    if any(not 1 <= x < PRIME or not 0 <= y < PRIME for x, y in points):
        raise AggregationError("shamir: a share lies outside the field")
    secret = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                num = num * xj % PRIME
                den = den * (xj - xi) % PRIME
        secret = (secret + yi * num * pow(den, -1, PRIME)) % PRIME
    if secret >= 2 ** (8 * SECRET_BYTES):
        raise AggregationError("shamir: shares are inconsistent (no 32-byte secret)")
    return secret.to_bytes(SECRET_BYTES, "big")


def encode_share(x: int, y: int) -> bytes:
    """37 bytes: holder index ``x`` (4, big-endian) then ``y`` (33, big-endian)."""
    if not 1 <= x < 2 ** (8 * _X_BYTES) or not 0 <= y < PRIME:
        raise ConfigError("shamir: share out of range")
    return x.to_bytes(_X_BYTES, "big") + y.to_bytes(_Y_BYTES, "big")


def decode_share(data: bytes) -> tuple[int, int]:
    """Inverse of :func:`encode_share`; :class:`TransportError` when malformed."""
    if len(data) != SHARE_BYTES:
        raise TransportError(f"shamir share: {len(data)} bytes; expected {SHARE_BYTES}")
    x = int.from_bytes(data[:_X_BYTES], "big")
    y = int.from_bytes(data[_X_BYTES:], "big")
    if x < 1 or y >= PRIME:
        raise TransportError("shamir share: holder index or value out of range")
    return x, y
