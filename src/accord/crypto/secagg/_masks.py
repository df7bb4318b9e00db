"""Mask derivation: which PRG stream each site adds, and with which sign.

Site ``i`` adds its self mask ``PRG(b_i, context("self", plan, round, i))`` and, for
each neighbour ``j`` it exchanged shares with, ``±PRG(X25519(s_sk_i, s_pk_j),
context("pair", plan, round, min(i, j), max(i, j)))``: ``+`` when ``i < j`` (by name),
``-`` otherwise, so the two ends of a pair cancel in the sum. Because (plan, round) is
in every ``info``, the same seeds never give the same stream in two rounds or plans.
"""

from __future__ import annotations

from accord.crypto.secagg._messages import context

__all__ = ["pair_info", "pair_sign", "self_info"]


def self_info(plan: str, rnd: int, site: str) -> bytes:
    """HKDF info of ``site``'s self mask."""
    return context("self", plan, rnd, site)


def pair_info(plan: str, rnd: int, a: str, b: str) -> bytes:
    """HKDF info of the pairwise mask of ``a`` and ``b`` (order-free)."""
    return context("pair", plan, rnd, min(a, b), max(a, b))


def pair_sign(me: str, other: str) -> int:
    """+1 when ``me`` sorts before ``other``, else -1."""
    return 1 if me < other else -1
