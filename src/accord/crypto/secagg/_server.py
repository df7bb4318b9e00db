"""The hub side of secure aggregation: one :class:`SecAggServer` per (plan, round).

The server only routes sealed shares and sums masked vectors; it learns the sum of the
survivors' updates and nothing about any one of them. See
:mod:`accord.crypto.secagg._protocol` for the message flow.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.core import AggregationError, PrivacyError, TransportError
from accord.crypto.secagg import _shamir as shamir
from accord.crypto.secagg._channel import agree
from accord.crypto.secagg._config import SecAggConfig
from accord.crypto.secagg._masks import pair_info, pair_sign, self_info
from accord.crypto.secagg._messages import Advertisement, SurvivorList, UnmaskRequest
from accord.crypto.secagg._prg import MaskAccumulator

__all__ = ["SecAggServer"]


class SecAggServer:
    """Routes one round's messages and unmasks the sum of the survivors' vectors."""

    def __init__(self, config: SecAggConfig) -> None:
        self.config = config
        self._adverts: dict[str, Advertisement] = {}
        self._partners: dict[str, frozenset[str]] = {}
        self._masked: dict[str, npt.NDArray[np.uint64]] = {}
        self._dropped: list[str] = []
        self._signatures: dict[str, bytes] | None = None

    def _require(self, enough: int, what: str) -> None:
        if enough < self.config.threshold:
            raise AggregationError(
                f"secagg round {self.config.round} of plan {self.config.plan}: only {enough} "
                f"sites {what}; the threshold is {self.config.threshold}"
            )

    def collect_adverts(self, adverts: Mapping[str, Advertisement]) -> dict[str, Advertisement]:
        """Round 0: keep the invited sites' advertisements and forward them all.

        Invited sites missing here are dropped from the start; the sites check signatures.
        """
        cfg = self.config
        kept = {s: a for s, a in adverts.items() if s in cfg.sites}
        for site, advert in kept.items():
            if (advert.plan, advert.round, advert.site) != (cfg.plan, cfg.round, site):
                raise AggregationError(f"secagg: advertisement from {site} is for another round")
        self._require(len(kept), "advertised keys")
        self._adverts = kept
        return dict(kept)

    def route_shares(
        self, outgoing: Mapping[str, Mapping[str, bytes]]
    ) -> dict[str, dict[str, bytes]]:
        """Round 1: ``sender → recipient → sealed`` becomes ``recipient → sender → sealed``.

        Each sender must address exactly its neighbours that advertised; only senders
        (the sites still present) receive, and only from other senders.
        """
        senders = {s: dict(m) for s, m in outgoing.items() if s in self._adverts}
        for sender, sealed in senders.items():
            expected = set(self.config.neighbours_of(sender)) & set(self._adverts)
            if set(sealed) != expected:
                raise AggregationError(
                    f"secagg: site {sender} sent shares to {len(sealed)} sites; expected its "
                    f"{len(expected)} advertised neighbours"
                )
        self._require(len(senders), "shared keys")
        routed = {r: {s: senders[s][r] for s in senders if r in senders[s]} for r in senders}
        self._partners = {r: frozenset(m) for r, m in routed.items()}
        return routed

    def collect_masked(
        self, masked: Mapping[str, npt.NDArray[np.uint64]]
    ) -> tuple[list[str], list[str]]:
        """Round 2: (survivors, dropped) — who sent a masked vector and who did not.

        ``dropped`` lists the sites that shared keys but sent no vector: their pairwise
        masks must be removed. :class:`AggregationError` below the threshold.
        """
        words = self.config.words
        for site, vector in masked.items():
            if site not in self.config.sites:
                raise AggregationError(f"secagg: masked input from uninvited site {site}")
            if vector.dtype != np.uint64 or vector.shape != (words,):
                raise AggregationError(
                    f"secagg: masked input from {site} is {vector.dtype}{vector.shape}; "
                    f"expected uint64({words},)"
                )
        survivors = sorted(s for s in masked if s in self._partners)
        self._require(len(survivors), "sent masked input")
        self._masked = {s: masked[s] for s in survivors}
        self._dropped = sorted(set(self._partners) - set(survivors))
        return list(survivors), list(self._dropped)

    def survivor_list(self) -> SurvivorList:
        """Consistency round: the list every survivor is asked to sign (the same for all)."""
        if not self._masked:
            raise AggregationError("secagg: survivor_list called before collect_masked")
        cfg = self.config
        return SurvivorList(cfg.plan, cfg.round, tuple(sorted(self._masked)), tuple(self._dropped))

    def collect_signatures(self, signatures: Mapping[str, bytes]) -> UnmaskRequest:
        """Consistency round: keep the survivors' signatures (the sites verify them); the
        unmask request for every signer. :class:`AggregationError` below the threshold."""
        if not self._masked:
            raise AggregationError("secagg: collect_signatures called before collect_masked")
        self._signatures = {s: signatures[s] for s in sorted(signatures) if s in self._masked}
        self._require(len(self._signatures), "signed the survivor list")
        listed = self.survivor_list()
        return UnmaskRequest(
            listed.plan, listed.round, listed.survivors, listed.dropped, dict(self._signatures)
        )

    def _gather(
        self, unmask_replies: Mapping[str, Mapping[str, bytes]]
    ) -> dict[str, dict[int, int]]:
        """``target → {x: y}`` from survivors' replies, each share checked to be the replier's."""
        cfg, wanted = self.config, set(self._masked) | set(self._dropped)
        shares: dict[str, dict[int, int]] = {s: {} for s in wanted}
        for holder, reply in unmask_replies.items():
            if holder not in (self._signatures or {}):
                continue  # only survivors that signed answer; anything else is ignored
            for target, data in reply.items():
                if target not in wanted or holder not in cfg.holders_of(target):
                    raise AggregationError(f"secagg: {holder} sent a share it cannot hold")
                try:
                    x, y = shamir.decode_share(data)
                except TransportError as exc:
                    raise AggregationError(f"secagg: share from {holder}: {exc}") from None
                if x != cfg.index_of(holder):
                    raise AggregationError(f"secagg: {holder} sent a share for another holder")
                shares[target][x] = y
        return shares

    def _secret(self, shares: dict[str, dict[int, int]], site: str) -> bytes:
        t = self.config.threshold
        if len(shares[site]) < t:
            raise AggregationError(
                f"secagg: cannot unmask the sum: fewer than {t} shares for site {site} "
                f"({len(shares[site])} received)"
            )
        return shamir.combine(shares[site], t)

    def _mask_key(self, shares: dict[str, dict[int, int]], site: str) -> X25519PrivateKey:
        """The dropped ``site``'s s_sk, checked against its advertised s_pk."""
        key = X25519PrivateKey.from_private_bytes(self._secret(shares, site))
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        if raw != self._adverts[site].s_pk:
            raise AggregationError(f"secagg: the shares of site {site}'s mask key are inconsistent")
        return key

    def finalize(
        self, unmask_replies: Mapping[str, Mapping[str, bytes]]
    ) -> npt.NDArray[np.float64]:
        """Round 3: float64 sum of the survivors' vectors.

        Removes each survivor's self mask (b reconstructed from t shares) and each
        survivor's pairwise mask with every dropped partner (s_sk reconstructed).
        """
        if not self._masked or self._signatures is None:
            raise AggregationError("secagg: finalize called before collect_signatures")
        cfg, shares = self.config, self._gather(unmask_replies)
        seeds = {s: self._secret(shares, s) for s in self._masked}
        dropped = [d for d in self._dropped if any(d in self._partners[s] for s in self._masked)]
        keys = {d: self._mask_key(shares, d) for d in dropped}
        acc = MaskAccumulator(cfg.words)
        for site, vector in self._masked.items():
            np.add(acc.total, vector, out=acc.total)
            acc.add(seeds[site], self_info(cfg.plan, cfg.round, site), -1)
        for d, key in keys.items():
            for s in sorted(self._masked):
                if d in self._partners[s]:
                    shared = _agree(key, self._adverts[s].s_pk, s)
                    acc.add(shared, pair_info(cfg.plan, cfg.round, s, d), -pair_sign(s, d))
        self._masked = {}
        return cfg.quantizer.decode_sum(acc.total, len(seeds))


def _agree(key: X25519PrivateKey, peer: bytes, who: str) -> bytes:
    try:
        return agree(key, peer, who)
    except PrivacyError as exc:
        raise AggregationError(str(exc)) from None
