"""A hub that lies about who survived, with a colluding site: the consistency round.

The attack (issue #13): after every site has sent its masked input, the hub tells one
group of honest sites "everyone survived" (so they reveal shares of the victim's self-mask
seed b) and the other "the victim dropped" (so they reveal shares of its mask key s_sk);
a colluding site hands over both of its own shares and signs both lists. With t shares of
each secret the hub strips every mask off the victim's vector and reads its update.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.core import AggregationError, PrivacyError
from accord.crypto.secagg import SurvivorList, UnmaskRequest
from accord.crypto.secagg import _shamir as shamir
from accord.crypto.secagg._channel import agree
from accord.crypto.secagg._masks import pair_info, pair_sign, self_info
from accord.crypto.secagg._messages import session_digest
from accord.crypto.secagg._prg import MaskAccumulator
from tests.crypto.secagg.simulate import Federation, make_config, random_updates

VICTIM, A, B, C, COLLUDER = (f"site-0{i}" for i in range(5))
GROUP_ALL_SURVIVED, GROUP_VICTIM_DROPPED = (VICTIM, A), (B, C)


@dataclass
class SplitView:
    """The hub's two survivor lists, and what it collected from each group."""

    fed: Federation
    masked: dict[str, npt.NDArray[np.uint64]]
    session: bytes
    all_survived: SurvivorList
    victim_dropped: SurvivorList
    signatures: dict[SurvivorList, dict[str, bytes]]

    @classmethod
    def start(cls, threshold: int) -> SplitView:
        fed = Federation.create(make_config(5, threshold, 16, clip=1e12))
        adverts = fed.advertise()
        masked = fed.mask(random_updates(fed.config.sites, 16, 13, clip=1e3), fed.share(adverts))
        survivors, dropped = fed.hub.collect_masked(masked)
        assert dropped == []  # every site sent its masked input
        everyone = fed.hub.survivor_list()
        without = SurvivorList(
            everyone.plan, everyone.round, tuple(s for s in survivors if s != VICTIM), (VICTIM,)
        )
        view = cls(fed, masked, session_digest(adverts), everyone, without, {})
        for listed, group in ((everyone, GROUP_ALL_SURVIVED), (without, GROUP_VICTIM_DROPPED)):
            signed = {s: fed.clients[s].consistency(listed) for s in group}
            signed[COLLUDER] = view.colluder_signs(listed)
            view.signatures[listed] = signed
        return view

    def colluder_signs(self, listed: SurvivorList) -> bytes:
        """The colluder signs anything the hub asks, with its real key."""
        return self.fed.identities[COLLUDER].sign(listed.signed_bytes(self.session))

    def request(self, listed: SurvivorList) -> UnmaskRequest:
        return UnmaskRequest(
            listed.plan, listed.round, listed.survivors, listed.dropped, self.signatures[listed]
        )

    def victims_shares(self, revealed: dict[str, dict[str, bytes]]) -> tuple[dict, dict]:
        """Shares of the victim's b (from 'all survived') and s_sk (from 'dropped'), plus
        the colluder's own share of each."""
        b = {s: revealed[s][VICTIM] for s in GROUP_ALL_SURVIVED if VICTIM in revealed.get(s, {})}
        sk = {s: revealed[s][VICTIM] for s in GROUP_VICTIM_DROPPED if VICTIM in revealed.get(s, {})}
        held = self.fed.clients[COLLUDER]._held[VICTIM]  # the colluder's whole state
        x = self.fed.config.index_of(COLLUDER)
        b[COLLUDER], sk[COLLUDER] = shamir.encode_share(x, held.b), shamir.encode_share(x, held.s)
        return b, sk

    def recover_victim(self, revealed: dict[str, dict[str, bytes]]) -> npt.NDArray[np.float64]:
        """Strip the victim's self mask and pairwise masks; :class:`AggregationError`
        when the hub holds fewer than t shares of either secret."""
        cfg = self.fed.config
        b_shares, s_shares = self.victims_shares(revealed)
        b = shamir.combine(dict(shamir.decode_share(v) for v in b_shares.values()), cfg.threshold)
        raw = shamir.combine(dict(shamir.decode_share(v) for v in s_shares.values()), cfg.threshold)
        s_sk = X25519PrivateKey.from_private_bytes(raw)
        acc = MaskAccumulator(cfg.words, self.masked[VICTIM])
        acc.add(b, self_info(cfg.plan, cfg.round, VICTIM), -1)
        adverts = self.fed.clients[VICTIM]._peers or {}
        for j in cfg.neighbours_of(VICTIM):
            shared = agree(s_sk, adverts[j].s_pk, j)
            acc.add(shared, pair_info(cfg.plan, cfg.round, VICTIM, j), -pair_sign(VICTIM, j))
        return cfg.quantizer.decode_sum(acc.total, 1)

    def victim_update(self) -> npt.NDArray[np.float64]:
        return random_updates(self.fed.config.sites, 16, 13, clip=1e3)[VICTIM]


def test_malicious_hub_split_survivor_lists_recover_an_update_below_the_threshold_floor() -> None:
    """The attack is real: at t = 3 of 5 (the old default) both groups see 3 signatures
    over their own list, both unmask, and the hub reads the victim's update exactly.
    This is why sites refuse any t below ceil(2n/3) (see the middleware tests)."""
    view = SplitView.start(threshold=3)
    revealed = {
        s: view.fed.clients[s].unmask(view.request(listed), view.fed.public_key_of)
        for listed, group in (
            (view.all_survived, GROUP_ALL_SURVIVED),
            (view.victim_dropped, GROUP_VICTIM_DROPPED),
        )
        for s in group
    }
    np.testing.assert_allclose(view.recover_victim(revealed), view.victim_update(), atol=1e-9)


def test_malicious_hub_inconsistent_survivor_lists_with_a_colluder_are_refused() -> None:
    """At the floor t = 4 of 5 each honest site sees only 3 signatures over the list it
    signed: every honest site refuses before revealing a share, for good, and the
    victim's update cannot be recovered from what the hub holds."""
    view = SplitView.start(threshold=4)
    revealed: dict[str, dict[str, bytes]] = {}
    for listed, group in (
        (view.all_survived, GROUP_ALL_SURVIVED),
        (view.victim_dropped, GROUP_VICTIM_DROPPED),
    ):
        for site in group:
            client = view.fed.clients[site]
            with pytest.raises(PrivacyError, match="3 survivors signed the survivor list"):
                revealed[site] = client.unmask(view.request(listed), view.fed.public_key_of)
            honest = view.request(view.all_survived)  # even a later, honest-looking request
            with pytest.raises(PrivacyError, match="already answered or aborted"):
                client.unmask(honest, view.fed.public_key_of)
    assert revealed == {}  # not one share left an honest site
    with pytest.raises(AggregationError, match="shamir: 1 shares; need at least 4"):
        view.recover_victim(revealed)


def test_malicious_hub_pooling_both_groups_signatures_is_refused() -> None:
    """The hub adds the other group's signatures (over the other list) to reach t."""
    view = SplitView.start(threshold=4)
    mixed = {**view.signatures[view.victim_dropped], **view.signatures[view.all_survived]}
    request = replace(view.request(view.all_survived), signatures=mixed)
    with pytest.raises(PrivacyError, match=f"consistency signature of {B} fails verification"):
        view.fed.clients[VICTIM].unmask(request, view.fed.public_key_of)


class TestSignatureChecks:
    """A forged, missing, foreign or replayed consistency signature: the site refuses."""

    @pytest.fixture
    def fed(self) -> Federation:
        fed = Federation.create(make_config(5, 4, 8))
        fed.hub.collect_masked(
            fed.mask(random_updates(fed.config.sites, 8, 2), fed.share(fed.advertise()))
        )
        return fed

    def _refused(self, fed: Federation, request: UnmaskRequest, match: str) -> None:
        with pytest.raises(PrivacyError, match=match):
            fed.clients[A].unmask(request, fed.public_key_of)

    def test_malicious_hub_forged_consistency_signature_is_refused(self, fed: Federation) -> None:
        request = fed.sign()
        forged = dict(request.signatures)
        forged[B] = bytes([forged[B][0] ^ 1]) + forged[B][1:]
        self._refused(fed, replace(request, signatures=forged), f"signature of {B} fails")

    def test_malicious_hub_signature_under_another_key_is_refused(self, fed: Federation) -> None:
        request = fed.sign()
        wrong = {**request.signatures, B: request.signatures[C]}
        self._refused(fed, replace(request, signatures=wrong), f"signature of {B} fails")

    def test_malicious_hub_missing_consistency_signatures_are_refused(
        self, fed: Federation
    ) -> None:
        request = fed.sign()
        kept = {s: request.signatures[s] for s in (A, B, C)}
        self._refused(fed, replace(request, signatures=kept), "3 survivors signed")

    def test_malicious_hub_signature_from_a_non_survivor_is_refused(self, fed: Federation) -> None:
        request = fed.sign()
        self._refused(
            fed, replace(request, signatures={**request.signatures, "site-77": b"x" * 64}),
            "consistency signature from site-77, not a survivor",
        )  # fmt: skip

    def test_malicious_hub_unmask_lists_differ_from_the_signed_ones(self, fed: Federation) -> None:
        request = fed.sign()
        dropped = replace(
            request, survivors=tuple(s for s in request.survivors if s != B), dropped=(B,)
        )
        self._refused(fed, dropped, "lists other survivors or dropped sites than the list")

    def test_malicious_hub_signatures_replayed_from_another_run_are_refused(self) -> None:
        """Same plan, round and lists, but another run of the round (fresh keys): the
        signatures of the first run do not count in the second."""
        config = make_config(5, 4, 8)
        old = Federation.create(config)
        new = Federation.create(config, identities=old.identities)  # the same organisations
        for fed in (old, new):
            routed = fed.share(fed.advertise())
            fed.hub.collect_masked(fed.mask(random_updates(config.sites, 8, 2), routed))
        replayed = old.sign()
        assert new.sign().survivor_list == replayed.survivor_list  # the same lists
        with pytest.raises(PrivacyError, match="fails verification"):
            new.clients[A].unmask(replayed, new.public_key_of)

    def test_unmask_before_signing(self, fed: Federation) -> None:
        request = UnmaskRequest(fed.config.plan, 0, fed.config.sites, ())
        with pytest.raises(AggregationError, match="unmask called before consistency"):
            fed.clients[A].unmask(request, fed.public_key_of)
