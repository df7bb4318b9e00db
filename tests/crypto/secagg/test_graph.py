"""Neighbour graphs: complete for SecAgg, Harary H(k, n) over a seeded order for SecAgg+."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import ConfigError
from accord.crypto.secagg import neighbours

SITES = tuple(f"s{i}" for i in range(9))


def _connected_without(graph: dict[str, tuple[str, ...]], removed: set[str]) -> bool:
    alive = [s for s in graph if s not in removed]
    seen, queue = {alive[0]}, deque([alive[0]])
    while queue:
        for t in graph[queue.popleft()]:
            if t not in removed and t not in seen:
                seen.add(t)
                queue.append(t)
    return len(seen) == len(alive)


@pytest.mark.parametrize("k", [None, 8, 20])
def test_complete_graph(k: int | None) -> None:
    graph = neighbours(SITES, k, b"")
    assert all(graph[s] == tuple(t for t in SITES if t != s) for s in SITES)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(4, 40), data=st.data())
def test_harary_graph_is_symmetric_k_regular_and_k_connected(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(2, n - 2))
    sites = [f"site-{i}" for i in range(n)]
    graph = neighbours(sites, k, b"seed")
    degrees = sorted(len(v) for v in graph.values())
    assert all(s not in graph[s] for s in sites)
    assert all(s in graph[t] for s in sites for t in graph[s])
    expected = [k] * (n - 1) + [k + 1] if k % 2 and n % 2 else [k] * n
    assert degrees == expected
    removed = set(data.draw(st.lists(st.sampled_from(sites), max_size=k - 1, unique=True)))
    assert _connected_without(graph, removed)


def test_order_derives_from_the_seed_only() -> None:
    sites = [f"site-{i}" for i in range(30)]
    a = neighbours(sites, 4, b"seed-1")
    assert a == neighbours(list(reversed(sites)), 4, b"seed-1")
    assert a != neighbours(sites, 4, b"seed-2")


@pytest.mark.parametrize(("sites", "k"), [(("a", "a"), None), (("a", ""), None), (SITES, 1)])
def test_bad_input(sites: tuple[str, ...], k: int | None) -> None:
    with pytest.raises(ConfigError, match="secagg graph"):
        neighbours(sites, k, b"")
