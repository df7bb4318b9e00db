"""What the hub grants one caller: request rate, request size, staged upload bytes.

A hub that holds under abuse bounds what any one peer can make it do. :class:`Limits`
gathers the bounds (``[limits]`` in ``hub.toml``; the defaults below are sized so that a
normal study never meets them):

==========================  =============  ===============================================
``max_request_bytes``       64 MiB         one request body (an upload piece is 16 MiB)
``requests_per_minute``     1200           sustained requests per caller (a site polls
                                           every ~25 s and sends 16 MiB pieces)
``request_burst``           600            requests a caller may send at once
``refusal_window_s``        600            identical refusals recorded once per window
``staging_site_bytes``      2 GiB          bytes one site may have staged, uncommitted
``staging_total_bytes``     8 GiB          bytes staged by every site together
``staging_expiry_s``        86400          a staging file untouched this long is deleted
==========================  =============  ===============================================

:class:`RateLimiter` is a token bucket per caller. It is a few lines with an injected
clock rather than a dependency (the ``limits`` package would add storage backends and
a moving-window model the hub does not need, and its clock cannot be injected, which
tests need to be deterministic). The caller is known before any authentication work
(:func:`caller_key`): the SHA-256 of the client certificate under mutual TLS (one per
site), else the ``Accord-Site`` header (loopback runs), else the client address. A
caller whose authentication is refused is *penalised*: its bucket is emptied and owes a
full burst, so a refused peer that keeps knocking gets 429 without reaching the
authenticator (and without any ledger work) until it has waited ``burst / rate``.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from accord.core import TransportError
from accord.net._http_server import SITE_HEADER, peer_certificate

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_RETRY_AFTER_S",
    "Limits",
    "RateLimitedError",
    "RateLimiter",
    "caller_key",
    "retry_after_s",
]

_MIB = 1024 * 1024
_GIB = 1024 * _MIB
MAX_RETRY_AFTER_S = 300.0  # a longer Retry-After (a hub's mistake, or a lie) is cut to this
_MAX_CALLERS = 10_000  # buckets kept; full ones are dropped beyond this


@dataclass(frozen=True)
class Limits:
    """The hub's per-caller bounds (see the table above; sizes in bytes, times in s)."""

    max_request_bytes: int = 64 * _MIB
    requests_per_minute: int = 1200
    request_burst: int = 600
    refusal_window_s: int = 600
    staging_site_bytes: int = 2 * _GIB
    staging_total_bytes: int = 8 * _GIB
    staging_expiry_s: float = 86400.0


DEFAULT_LIMITS = Limits()


class RateLimitedError(TransportError):
    """A caller over its request rate (429; ``retry_after_s`` goes in ``Retry-After``)."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(
            f"too many requests: over the hub's limit; retry in {self.retry_after_s} s"
        )


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimiter:
    """``per_minute`` requests per caller sustained, ``burst`` at once (a token bucket).

    ``clock`` gives seconds (monotonic); tests pass a fake one.
    """

    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_minute < 1 or burst < 1:
            raise ValueError("per_minute and burst must be at least 1")
        self.rate_s = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket, or raise :class:`RateLimitedError`."""
        with self._lock:
            bucket = self._refill(key)
            if bucket.tokens < 1.0:
                raise RateLimitedError((1.0 - bucket.tokens) / self.rate_s)
            bucket.tokens -= 1.0

    def penalise(self, key: str) -> None:
        """Empty ``key``'s bucket and make it owe a full burst (after a refused request)."""
        with self._lock:
            self._refill(key).tokens = -self.burst

    def _refill(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_CALLERS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_s)
        bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (they hold nothing a new one would not)."""
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate_s >= self.burst:
                del self._buckets[key]


def caller_key(request: Request) -> str:
    """Who is calling, known before authentication: the client certificate's SHA-256,
    else the ``Accord-Site`` header (plain HTTP on loopback), else the client address."""
    der = peer_certificate(request)
    if der:
        return "cert:" + hashlib.sha256(der).hexdigest()
    site = request.headers.get(SITE_HEADER, "")
    if site:
        return "site:" + site[:256]
    return "addr:" + (request.client.host if request.client is not None else "")


def retry_after_s(status: int, header: str) -> float | None:
    """The seconds a 429 or 503 answer asks a client to wait (``Retry-After: <seconds>``),
    at most :data:`MAX_RETRY_AFTER_S`; None when absent or an HTTP date (back off as usual)."""
    value = header.strip()
    if status not in (429, 503) or not value.isdigit():
        return None
    return min(float(value), MAX_RETRY_AFTER_S)
