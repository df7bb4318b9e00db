"""The public parameters of one secure-aggregation round, shared by hub and sites.

:func:`threshold_floor` is the smallest threshold a site accepts. A hub that shows
different survivor lists to different honest sites can collect shares of both secrets of
one site (and so unmask its update) when the honest holders split into two groups that
each reach t with the c colluding holders: h₁ + c >= t and h₂ + c >= t with h₁ + h₂ + c
<= h, the holders. The consistency round makes every honest site that reveals anything
see t signatures over the lists it signed itself, and the same counting holds, so the
update stays hidden while 2t > h + c. With ``t >= ceil(2h / 3)`` that holds for every
c < h / 3 colluders (Bonawitz et al. 2017, §6, active adversary).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accord.core import ConfigError
from accord.crypto.secagg._graph import neighbours
from accord.crypto.secagg._quantize import WORDS, Quantizer

__all__ = ["SecAggConfig", "holder_count", "threshold_floor"]


def holder_count(n_sites: int, k: int | None) -> int:
    """Share holders of one site (its neighbours and itself): n for the complete graph
    (k None or k >= n − 1), else k + 1 (one site may have k + 2 when k and n are odd)."""
    return n_sites if k is None or k >= n_sites - 1 else k + 1


def threshold_floor(n_sites: int, k: int | None) -> int:
    """``ceil(2h / 3)`` for h = :func:`holder_count`: the least threshold sites accept."""
    return (2 * holder_count(n_sites, k) + 2) // 3


@dataclass(frozen=True)
class SecAggConfig:
    """One (plan, round) of secure aggregation.

    ``sites`` are the invited sites (holder index = position + 1), ``threshold`` the
    Shamir threshold t, ``vector_length`` the number of coordinates, ``k`` the SecAgg+
    neighbourhood size (None: complete graph) and ``graph_seed`` the public seed that
    orders the sites on the Harary ring. Each site's secrets are shared among its
    *holders*: its neighbours and itself; t must exceed half of every holder set (so no
    one can obtain both a site's self-mask seed and its mask key) and must not exceed it.
    """

    plan: str
    round: int
    sites: tuple[str, ...]
    threshold: int
    vector_length: int
    quantizer: Quantizer
    k: int | None = None
    graph_seed: bytes = b""
    _graph: dict[str, tuple[str, ...]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )
    _index: dict[str, int] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", tuple(self.sites))
        self._check_fields()
        graph = neighbours(self.sites, self.k, self.graph_seed)
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "_index", {s: i + 1 for i, s in enumerate(self.sites)})
        self._check_threshold()

    def _check_fields(self) -> None:
        if not isinstance(self.plan, str) or not self.plan:
            raise ConfigError("secagg config field 'plan': expected a non-empty string")
        if not isinstance(self.round, int) or isinstance(self.round, bool) or self.round < 0:
            raise ConfigError("secagg config field 'round': expected an integer >= 0")
        if len(self.sites) < 2:  # names are checked by graph.neighbours
            raise ConfigError(f"secagg config field 'sites': {len(self.sites)}; expected >= 2")
        if not isinstance(self.vector_length, int) or self.vector_length < 1:
            raise ConfigError("secagg config field 'vector_length': expected an integer >= 1")
        if not isinstance(self.quantizer, Quantizer):
            raise ConfigError("secagg config field 'quantizer': expected a Quantizer")
        if self.quantizer.n_summands < len(self.sites):
            raise ConfigError(
                f"secagg config: quantizer sized for {self.quantizer.n_summands} summands but "
                f"{len(self.sites)} sites take part; the sum could overflow its ring"
            )
        if not isinstance(self.graph_seed, bytes):
            raise ConfigError("secagg config field 'graph_seed': expected bytes")

    def _check_threshold(self) -> None:
        t = self.threshold
        if not isinstance(t, int) or isinstance(t, bool):
            raise ConfigError("secagg config field 'threshold': expected an integer")
        for site in self.sites:
            size = len(self._graph[site]) + 1
            if not size / 2 < t <= size:
                raise ConfigError(
                    f"secagg config field 'threshold': {t} must exceed half of site {site}'s "
                    f"{size} share holders (its neighbours and itself) and be at most {size}"
                )

    @property
    def words(self) -> int:
        """Ring words (uint64) of a masked vector: :data:`WORDS` per coordinate."""
        return WORDS * self.vector_length

    def neighbours_of(self, site: str) -> tuple[str, ...]:
        """The sites ``site`` agrees masks with (sorted, never itself)."""
        return self._graph[site]

    def holders_of(self, site: str) -> tuple[str, ...]:
        """The sites that hold shares of ``site``'s secrets: its neighbours and itself."""
        return tuple(sorted((*self._graph[site], site)))

    def index_of(self, site: str) -> int:
        """``site``'s Shamir x-coordinate: its 1-based position in ``sites``."""
        return self._index[site]
