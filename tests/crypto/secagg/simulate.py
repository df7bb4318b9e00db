"""Run whole secure-aggregation rounds in one process, with chosen dropouts."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from accord.crypto import Identity, new_identity
from accord.crypto.secagg import (
    Advertisement,
    Quantizer,
    SecAggClient,
    SecAggConfig,
    SecAggServer,
    UnmaskRequest,
)

GRAPH_SEED = b"graph-seed"


def site_names(n: int) -> tuple[str, ...]:
    return tuple(f"site-{i:02d}" for i in range(n))


def make_config(
    n: int,
    threshold: int,
    length: int,
    *,
    k: int | None = None,
    plan: str = "plan-1",
    rnd: int = 0,
    clip: float = 1.0,
) -> SecAggConfig:
    return SecAggConfig(
        plan=plan,
        round=rnd,
        sites=site_names(n),
        threshold=threshold,
        vector_length=length,
        quantizer=Quantizer(clip=clip, n_summands=n),
        k=k,
        graph_seed=GRAPH_SEED,
    )


@dataclass
class Federation:
    """Sites with identities, their clients for one round and the hub's server."""

    config: SecAggConfig
    identities: dict[str, Identity]
    clients: dict[str, SecAggClient] = field(default_factory=dict)
    server: SecAggServer | None = None

    @classmethod
    def create(
        cls, config: SecAggConfig, identities: dict[str, Identity] | None = None
    ) -> Federation:
        ids = identities or {s: new_identity(s) for s in config.sites}
        fed = cls(config, ids)
        fed.clients = {s: SecAggClient(config, s, ids[s]) for s in config.sites}
        fed.server = SecAggServer(config)
        return fed

    def public_key_of(self, site: str) -> bytes:
        return self.identities[site].public.public_key

    @property
    def hub(self) -> SecAggServer:
        if self.server is None:
            raise RuntimeError("no server")
        return self.server

    def advertise(self, absent: Collection[str] = ()) -> dict[str, Advertisement]:
        adverts = {s: c.advertise() for s, c in self.clients.items() if s not in absent}
        return self.hub.collect_adverts(adverts)

    def share(
        self, adverts: Mapping[str, Advertisement], absent: Collection[str] = ()
    ) -> dict[str, dict[str, bytes]]:
        outgoing = {
            s: self.clients[s].share_keys(adverts, self.public_key_of)
            for s in adverts
            if s not in absent
        }
        return self.hub.route_shares(outgoing)

    def mask(
        self,
        vectors: Mapping[str, npt.NDArray[np.float64]],
        routed: Mapping[str, Mapping[str, bytes]],
        absent: Collection[str] = (),
    ) -> dict[str, npt.NDArray[np.uint64]]:
        return {
            s: self.clients[s].masked_input(vectors[s], routed[s])
            for s in routed
            if s not in absent
        }

    def sign(self, absent: Collection[str] = ()) -> UnmaskRequest:
        """The consistency round: every survivor not ``absent`` signs the hub's list."""
        listed = self.hub.survivor_list()
        signatures = {
            s: self.clients[s].consistency(listed) for s in listed.survivors if s not in absent
        }
        return self.hub.collect_signatures(signatures)

    def unmask(
        self, request: UnmaskRequest, absent: Collection[str] = ()
    ) -> dict[str, dict[str, bytes]]:
        return {
            s: self.clients[s].unmask(request, self.public_key_of)
            for s in request.signatures
            if s not in absent
        }

    def run(
        self,
        vectors: Mapping[str, npt.NDArray[np.float64]],
        *,
        before_shares: Collection[str] = (),
        before_mask: Collection[str] = (),
        after_mask: Collection[str] = (),
        after_sign: Collection[str] = (),
    ) -> npt.NDArray[np.float64]:
        """One full round; sites in each collection drop out at that point (``after_mask``:
        before signing the survivor list; ``after_sign``: before unmasking)."""
        adverts = self.advertise()
        routed = self.share(adverts, before_shares)
        masked = self.mask(vectors, routed, before_mask)
        self.hub.collect_masked(masked)
        request = self.sign(after_mask)
        return self.hub.finalize(self.unmask(request, after_sign))


def random_updates(
    sites: Collection[str], length: int, seed: int, clip: float = 1.0
) -> dict[str, npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)  # test data only, never a secret
    return {s: rng.uniform(-clip, clip, length) for s in sites}


def quantised_sum(
    config: SecAggConfig, vectors: Mapping[str, npt.NDArray[np.float64]]
) -> npt.NDArray[np.float64]:
    """The plain sum of the quantised vectors: what secure aggregation must return exactly."""
    q = config.quantizer
    total = np.zeros(config.words, np.uint64)
    for v in vectors.values():
        total += q.encode(v)  # wraps modulo 2^64, as the masked sum does
    return q.decode_sum(total, len(vectors))
