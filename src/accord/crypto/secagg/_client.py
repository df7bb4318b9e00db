"""The site side of secure aggregation: one :class:`SecAggClient` per (plan, round).

See :mod:`accord.crypto.secagg._protocol` for the message flow. Every step runs once, in
order; a second masked input under the same masks would reveal the difference of two
updates, and a second signed survivor list would let the hub show two views, so the
client refuses both. Any failed check in the unmask step aborts the round for good.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.core import AggregationError, ConfigError, PrivacyError, Signer, TransportError
from accord.crypto.secagg import _shamir as shamir
from accord.crypto.secagg._channel import agree, open_share, seal_share
from accord.crypto.secagg._config import SecAggConfig
from accord.crypto.secagg._masks import pair_info, pair_sign, self_info
from accord.crypto.secagg._messages import (
    Advertisement,
    SurvivorList,
    UnmaskRequest,
    session_digest,
)
from accord.crypto.secagg._prg import MaskAccumulator

__all__ = ["SecAggClient"]

_RAW = serialization.Encoding.Raw


def _public_raw(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


def _private_raw(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


@dataclass(frozen=True)
class _SharePair:
    """This site's shares (y values at its own x) of one site's b and s_sk."""

    b: int
    s: int


def verify_advert(
    advert: Advertisement, config: SecAggConfig, site: str, public_key: bytes
) -> None:
    """:class:`PrivacyError` unless ``advert`` is ``site``'s, for this round, and signed."""
    if (advert.plan, advert.round, advert.site) != (config.plan, config.round, site):
        raise PrivacyError(f"advertisement from {site} is for another site, plan or round")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            advert.signature, advert.signed_bytes()
        )
    except (InvalidSignature, ValueError):
        raise PrivacyError(f"advertisement from {site} fails signature verification") from None


class SecAggClient:
    """One site's state for one (plan, round); see the module docstring for the order."""

    def __init__(self, config: SecAggConfig, site: str, signer: Signer) -> None:
        if site not in config.sites:
            raise ConfigError(f"secagg: site {site} is not invited to plan {config.plan}")
        self.config = config
        self.site = site
        self._signer = signer
        self._x = config.index_of(site)
        self._c_sk: X25519PrivateKey | None = None
        self._s_sk: X25519PrivateKey | None = None
        self._advert: Advertisement | None = None
        self._peers: dict[str, Advertisement] | None = None
        self._b: bytes | None = None
        self._held: dict[str, _SharePair] = {}
        self._masked = False
        self._session = b""
        self._signed: SurvivorList | None = None
        self._done = False

    def advertise(self) -> Advertisement:
        """Round 0: fresh X25519 key pairs c (share encryption) and s (mask agreement)."""
        if self._advert is not None:
            raise PrivacyError(f"secagg: {self.site} already advertised keys for this round")
        self._c_sk, self._s_sk = X25519PrivateKey.generate(), X25519PrivateKey.generate()
        cfg = self.config
        unsigned = Advertisement(
            cfg.plan, cfg.round, self.site, _public_raw(self._c_sk), _public_raw(self._s_sk), b""
        )
        signature = self._signer.sign(unsigned.signed_bytes())
        self._advert = Advertisement(
            cfg.plan, cfg.round, self.site, unsigned.c_pk, unsigned.s_pk, signature
        )
        return self._advert

    def _verified_peers(
        self, adverts: Mapping[str, Advertisement], public_key_of: Callable[[str], bytes]
    ) -> dict[str, Advertisement]:
        """The neighbours that advertised, each signature checked; keys must be distinct."""
        if adverts.get(self.site) != self._advert:
            raise PrivacyError(f"secagg: the hub did not forward {self.site}'s own advertisement")
        peers = {j: adverts[j] for j in self.config.neighbours_of(self.site) if j in adverts}
        for j, advert in peers.items():
            verify_advert(advert, self.config, j, public_key_of(j))
        keys = [k for a in (*peers.values(), adverts[self.site]) for k in (a.c_pk, a.s_pk)]
        if len(set(keys)) != len(keys):
            raise PrivacyError("secagg: two advertisements carry the same public key (replay)")
        if len(peers) + 1 < self.config.threshold:
            raise AggregationError(
                f"secagg: only {len(peers) + 1} of {self.site}'s share holders advertised; "
                f"need the threshold {self.config.threshold}"
            )
        return peers

    def share_keys(
        self, adverts: Mapping[str, Advertisement], public_key_of: Callable[[str], bytes]
    ) -> dict[str, bytes]:
        """Round 1: Shamir-share b and s_sk among the holders; ``{neighbour: sealed pair}``."""
        if self._advert is None or self._c_sk is None or self._s_sk is None:
            raise AggregationError("secagg: share_keys called before advertise")
        if self._peers is not None:
            raise PrivacyError(f"secagg: {self.site} already shared keys for this round")
        peers = self._verified_peers(adverts, public_key_of)
        self._peers, self._b = peers, os.urandom(shamir.SECRET_BYTES)
        self._session = session_digest({s: a for s, a in adverts.items() if s in self.config.sites})
        xs = [self.config.index_of(j) for j in peers] + [self._x]
        t = self.config.threshold
        b_shares = shamir.split(self._b, t, xs)
        s_shares = shamir.split(_private_raw(self._s_sk), t, xs)
        self._held[self.site] = _SharePair(b_shares[self._x], s_shares[self._x])
        cfg, out = self.config, {}
        for j, advert in peers.items():
            x = cfg.index_of(j)
            payload = shamir.encode_share(x, b_shares[x]) + shamir.encode_share(x, s_shares[x])
            shared = agree(self._c_sk, advert.c_pk, j)
            out[j] = seal_share(shared, cfg.plan, cfg.round, self.site, j, payload)
        return out

    def _open_shares(self, shares_for_me: Mapping[str, bytes]) -> dict[str, _SharePair]:
        """Decrypt and check each neighbour's sealed pair of shares for this site."""
        c_sk, _, peers = self._keys("masked_input")
        cfg, opened = self.config, {}
        for j, sealed in shares_for_me.items():
            if j not in peers:
                raise PrivacyError(f"share from {j} fails authentication (not a neighbour)")
            shared = agree(c_sk, peers[j].c_pk, j)
            payload = open_share(shared, cfg.plan, cfg.round, j, self.site, sealed)
            half = shamir.SHARE_BYTES
            try:
                xb, b = shamir.decode_share(payload[:half])
                xs, s = shamir.decode_share(payload[half:])
            except TransportError:
                raise PrivacyError(f"share from {j} fails authentication") from None
            if xb != self._x or xs != self._x or len(payload) != 2 * half:
                raise PrivacyError(f"share from {j} fails authentication (wrong holder)")
            opened[j] = _SharePair(b, s)
        return opened

    def _keys(
        self, step: str
    ) -> tuple[X25519PrivateKey, X25519PrivateKey, dict[str, Advertisement]]:
        """(c_sk, s_sk, verified peers); :class:`AggregationError` before share_keys."""
        if self._c_sk is None or self._s_sk is None or self._peers is None:
            raise AggregationError(f"secagg: {step} called before share_keys")
        return self._c_sk, self._s_sk, self._peers

    def masked_input(
        self, vector: npt.NDArray[np.floating], shares_for_me: Mapping[str, bytes]
    ) -> npt.NDArray[np.uint64]:
        """Round 2: ``encode(vector) + PRG(b) + Σ_j ±PRG(s_ij)`` (uint64 words, mod 2^64).

        ``shares_for_me`` (neighbour → sealed pair) fixes the neighbours masked with;
        each pair is decrypted and kept for :meth:`unmask`.
        """
        _, s_sk, peers = self._keys("masked_input")
        if self._masked or self._b is None:
            raise PrivacyError(f"secagg: {self.site} already sent its masked input this round")
        cfg = self.config
        values = np.asarray(vector)
        if values.shape != (cfg.vector_length,):
            raise AggregationError(
                f"secagg: update has shape {values.shape}; expected ({cfg.vector_length},)"
            )
        opened = self._open_shares(shares_for_me)
        if len(opened) + 1 < cfg.threshold:
            raise AggregationError(
                f"secagg: only {len(opened)} neighbours of {self.site} shared keys; "
                f"need {cfg.threshold - 1}"
            )
        acc = MaskAccumulator(cfg.words, cfg.quantizer.encode(values))
        acc.add(self._b, self_info(cfg.plan, cfg.round, self.site))
        for j in sorted(opened):
            shared = agree(s_sk, peers[j].s_pk, j)
            acc.add(shared, pair_info(cfg.plan, cfg.round, self.site, j), pair_sign(self.site, j))
        self._held.update(opened)
        self._masked, self._b = True, None
        return acc.total

    def _check_lists(self, request: SurvivorList) -> None:
        """The survivor list is this round's, canonical, and leaves this site active."""
        cfg = self.config
        if (request.plan, request.round) != (cfg.plan, cfg.round):
            raise PrivacyError("secagg: the survivor list is for another plan or round")
        survivors, dropped = request.survivors, request.dropped
        for name, items in (("survivors", survivors), ("dropped", dropped)):
            if list(items) != sorted(set(items)):
                raise PrivacyError(f"secagg: the {name} list is not sorted or repeats a site")
            if not set(items) <= set(cfg.sites):
                raise PrivacyError(f"secagg: the {name} list names a site not in this round")
        both = sorted(set(survivors) & set(dropped))
        if both:
            raise PrivacyError(f"secagg: site {both[0]} is listed as both survivor and dropped")
        if self.site in dropped:
            raise PrivacyError(f"secagg: {self.site} is listed as dropped but sent its input")
        if self.site not in survivors:
            raise PrivacyError(f"secagg: {self.site} sent its input but is not listed")
        if len(survivors) < cfg.threshold:
            raise PrivacyError(
                f"secagg: {len(survivors)} survivors; the threshold is {cfg.threshold}"
            )

    def consistency(self, request: SurvivorList) -> bytes:
        """Consistency round: sign the hub's survivor list, once per round; the signature.

        The list is bound to this run of the round (the digest of its advertisements), and
        it is the only list :meth:`unmask` will reveal shares for.
        """
        if not self._masked:
            raise AggregationError("secagg: consistency called before masked_input")
        if self._signed is not None:
            raise PrivacyError(f"secagg: {self.site} already signed a survivor list this round")
        self._check_lists(request)
        self._signed = request
        return self._signer.sign(request.signed_bytes(self._session))

    def _check_signatures(
        self, request: UnmaskRequest, public_key_of: Callable[[str], bytes]
    ) -> None:
        """At least t valid signatures, from distinct survivors, over the list signed here."""
        signed, cfg = self._signed, self.config
        if signed is None:
            raise AggregationError("secagg: unmask called before consistency")
        if request.survivor_list != signed:
            raise PrivacyError(
                "secagg: the unmask request lists other survivors or dropped sites than the "
                f"list {self.site} signed"
            )
        strangers = sorted(set(request.signatures) - set(signed.survivors))
        if strangers:
            raise PrivacyError(f"secagg: consistency signature from {strangers[0]}, not a survivor")
        message = signed.signed_bytes(self._session)
        for site in sorted(request.signatures):
            try:
                Ed25519PublicKey.from_public_bytes(public_key_of(site)).verify(
                    request.signatures[site], message
                )
            except (InvalidSignature, ValueError):
                raise PrivacyError(
                    f"secagg: consistency signature of {site} fails verification"
                ) from None
        if len(request.signatures) < cfg.threshold:
            raise PrivacyError(
                f"secagg: {len(request.signatures)} survivors signed the survivor list; "
                f"the threshold is {cfg.threshold}"
            )

    def unmask(
        self, request: UnmaskRequest, public_key_of: Callable[[str], bytes]
    ) -> dict[str, bytes]:
        """Round 4: share of b for each survivor, of s_sk for each dropped site held.

        Only after :meth:`consistency`, for exactly the list signed there, and only with
        at least t valid survivors' signatures over it; any failed check aborts the round
        (:class:`PrivacyError`, now and on every later call) before a share is revealed.
        A share of site j's secret is revealed only when at least t of j's own holders
        signed (with SecAgg+, t signatures elsewhere in the graph say nothing about the
        view of j's neighbourhood). Sites this client holds no shares of are skipped.
        """
        if self._done:
            raise PrivacyError(f"secagg: {self.site} already answered or aborted this round")
        try:
            self._check_signatures(request, public_key_of)
        except PrivacyError:
            self._done, self._held = True, {}
            raise
        self._done = True
        survivors, dropped, t = request.survivors, request.dropped, self.config.threshold
        quorum = {
            j
            for j in self._held
            if len(set(self.config.holders_of(j)) & set(request.signatures)) >= t
        }
        wanted = {j: "b" for j in survivors if j in quorum}
        wanted |= {j: "s" for j in dropped if j in quorum}
        shares = {
            j: shamir.encode_share(self._x, self._held[j].b if kind == "b" else self._held[j].s)
            for j, kind in wanted.items()
        }
        self._held = {}
        return shares
