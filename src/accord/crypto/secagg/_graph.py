"""Who masks with whom: the complete graph (SecAgg) or a Harary graph (SecAgg+).

Bell et al. (CCS 2020) replace SecAgg's complete graph by a sparse k-regular graph
with ``k = O(log n)``, so each site agrees masks with and shares secrets among k
neighbours only. This module builds the Harary graph H(k, n) (the k-connected graph
with the fewest edges: site ``i`` links to ``i ± 1 .. i ± k/2`` on a ring, plus the
opposite site when k is odd) over an order of the sites that every party derives
from a public ``seed`` (SHA-256 of seed and site name), so the hub and the sites agree
on it without a message and no party picks its own neighbours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from accord.core import ConfigError

__all__ = ["neighbours", "ring_order"]


def _check(sites: Sequence[str], k: int | None) -> None:
    if len(set(sites)) != len(sites) or not all(isinstance(s, str) and s for s in sites):
        raise ConfigError("secagg graph: sites must be distinct non-empty names")
    if k is not None and (not isinstance(k, int) or k < 2):
        raise ConfigError(
            f"secagg graph: k must be None or an integer >= 2, not {k!r} (with k = 1 the graph "
            "falls apart into pairs and the hub would learn each pair's sum)"
        )


def ring_order(sites: Sequence[str], seed: bytes) -> list[str]:
    """The sites sorted by SHA-256(len(seed) ‖ seed ‖ site): a public pseudo-random order."""
    prefix = len(seed).to_bytes(4, "big") + seed
    return sorted(sites, key=lambda s: (hashlib.sha256(prefix + s.encode()).digest(), s))


def _harary_edges(k: int, n: int) -> set[tuple[int, int]]:
    """Edges (i < j) of the Harary graph H(k, n) on vertices 0..n-1, for 2 <= k < n - 1."""
    edges: set[tuple[int, int]] = set()
    for i in range(n):
        for step in range(1, k // 2 + 1):
            j = (i + step) % n
            edges.add((min(i, j), max(i, j)))
    if k % 2:
        half = n // 2
        count = half if n % 2 == 0 else (n + 1) // 2
        for i in range(count):
            j = (i + (n + 1) // 2) % n if n % 2 else i + half
            if i != j:
                edges.add((min(i, j), max(i, j)))
    return edges


def neighbours(sites: Sequence[str], k: int | None, seed: bytes) -> dict[str, tuple[str, ...]]:
    """Each site's neighbours (sorted, never itself); symmetric.

    Complete graph when ``k`` is None or ``k >= n - 1``; otherwise H(k, n) over the
    seed-derived order, where every site has degree k (one site k + 1 when k and n are
    both odd).
    """
    _check(sites, k)
    n = len(sites)
    if k is None or k >= n - 1:
        return {s: tuple(sorted(t for t in sites if t != s)) for s in sites}
    order = ring_order(sites, seed)
    linked: dict[str, set[str]] = {s: set() for s in sites}
    for i, j in _harary_edges(k, n):
        linked[order[i]].add(order[j])
        linked[order[j]].add(order[i])
    return {s: tuple(sorted(linked[s])) for s in sites}
