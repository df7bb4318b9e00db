"""What a dishonest hub or network cannot do: tamper, replay, forge, over-ask, or see."""

from __future__ import annotations

import math
import os
from dataclasses import replace

import numpy as np
import pytest

from accord.core import AggregationError, PrivacyError
from accord.crypto.secagg import SurvivorList
from accord.crypto.secagg._channel import open_share, seal_share
from tests.crypto.secagg.simulate import Federation, make_config, random_updates

A, B, C = "site-00", "site-01", "site-02"


def _routed(
    plan: str = "plan-1", rnd: int = 0, n: int = 4
) -> tuple[Federation, dict[str, dict[str, bytes]]]:
    fed = Federation.create(make_config(n, 3, 8, plan=plan, rnd=rnd))
    return fed, fed.share(fed.advertise())


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize("at", [0, 13, 50, -1])
def test_tampered_share_fails_authentication(at: int) -> None:
    fed, routed = _routed()
    shares = dict(routed[A])
    shares[B] = _flip(shares[B], at)
    with pytest.raises(PrivacyError, match=f"share from {B} fails authentication"):
        fed.clients[A].masked_input(np.zeros(8), shares)


@pytest.mark.parametrize(("plan", "rnd"), [("plan-1", 1), ("plan-2", 0)])
def test_share_replayed_from_another_round_or_plan_fails(plan: str, rnd: int) -> None:
    _, old = _routed()
    new_fed, new = _routed(plan, rnd)
    shares = dict(new[A])
    shares[B] = old[A][B]
    with pytest.raises(PrivacyError, match=f"share from {B} fails authentication"):
        new_fed.clients[A].masked_input(np.zeros(8), shares)


def test_share_delivered_to_another_recipient_fails() -> None:
    fed, routed = _routed()
    shares = dict(routed[C])
    shares[B] = routed[A][B]  # B's sealed pair for A, delivered to C
    with pytest.raises(PrivacyError, match=f"share from {B} fails authentication"):
        fed.clients[C].masked_input(np.zeros(8), shares)


def test_channel_binds_plan_round_and_both_ends_even_with_the_same_key() -> None:
    shared = os.urandom(32)
    sealed = seal_share(shared, "p", 1, A, B, b"payload")
    assert open_share(shared, "p", 1, A, B, sealed) == b"payload"
    for args in [("q", 1, A, B), ("p", 2, A, B), ("p", 1, C, B), ("p", 1, A, C)]:
        with pytest.raises(PrivacyError, match="fails authentication"):
            open_share(shared, *args, sealed)


@pytest.mark.parametrize("forge", ["signature", "s_pk", "round", "wrong_key"])
def test_forged_advertisement_is_refused(forge: str) -> None:
    fed = Federation.create(make_config(4, 3, 8))
    adverts = fed.advertise()
    victim = adverts[B]
    if forge == "signature":
        adverts[B] = replace(victim, signature=_flip(victim.signature, 5))
    elif forge == "s_pk":
        adverts[B] = replace(victim, s_pk=adverts[C].s_pk[::-1])
    elif forge == "round":
        adverts[B] = replace(victim, round=7)
    key_of = (lambda s: fed.public_key_of(C)) if forge == "wrong_key" else fed.public_key_of
    with pytest.raises(PrivacyError, match=f"advertisement from {B}"):
        fed.clients[A].share_keys(adverts, key_of)


def test_advertisement_reusing_anothers_keys_is_refused() -> None:
    """C signs an advertisement carrying B's public keys (to collect B's shares)."""
    fed = Federation.create(make_config(4, 3, 8))
    adverts = fed.advertise()
    copied = replace(adverts[B], site=C, signature=b"")
    adverts[C] = replace(copied, signature=fed.identities[C].sign(copied.signed_bytes()))
    with pytest.raises(PrivacyError, match="same public key"):
        fed.clients[A].share_keys(adverts, fed.public_key_of)


class TestSurvivorListRefusals:
    @pytest.fixture
    def masked(self) -> Federation:
        fed, routed = _routed(n=5)
        fed.hub.collect_masked(fed.mask(random_updates(fed.config.sites, 8, 0), routed))
        return fed

    def _listed(self, fed: Federation, survivors: list[str], dropped: list[str]) -> SurvivorList:
        return SurvivorList(fed.config.plan, fed.config.round, tuple(survivors), tuple(dropped))

    def test_site_in_both_lists(self, masked: Federation) -> None:
        sites = list(masked.config.sites)
        with pytest.raises(PrivacyError, match=f"{B} is listed as both"):
            masked.clients[A].consistency(self._listed(masked, sites, [B]))

    def test_own_key_while_active(self, masked: Federation) -> None:
        with pytest.raises(PrivacyError, match=f"{A} is listed as dropped"):
            masked.clients[A].consistency(self._listed(masked, list(masked.config.sites[1:]), [A]))

    def test_too_few_survivors(self, masked: Federation) -> None:
        with pytest.raises(PrivacyError, match="2 survivors; the threshold is 3"):
            masked.clients[A].consistency(self._listed(masked, [A, C], []))

    def test_unsorted_or_foreign_lists(self, masked: Federation) -> None:
        sites = list(masked.config.sites)
        with pytest.raises(PrivacyError, match="survivors list is not sorted"):
            masked.clients[A].consistency(self._listed(masked, sites[::-1], []))
        with pytest.raises(PrivacyError, match="dropped list names a site not in this round"):
            masked.clients[A].consistency(self._listed(masked, sites, ["site-99"]))
        with pytest.raises(PrivacyError, match="another plan or round"):
            masked.clients[A].consistency(replace(self._listed(masked, sites, []), round=4))

    def test_a_second_list_is_never_signed(self, masked: Federation) -> None:
        sites = list(masked.config.sites)
        masked.clients[A].consistency(self._listed(masked, sites, []))
        with pytest.raises(PrivacyError, match="already signed a survivor list"):
            masked.clients[A].consistency(self._listed(masked, sites[:-1], sites[-1:]))

    def test_second_masked_input_refused(self, masked: Federation) -> None:
        with pytest.raises(PrivacyError, match="already sent its masked input"):
            masked.clients[A].masked_input(np.zeros(8), {})


def test_steps_out_of_order() -> None:
    fed = Federation.create(make_config(3, 2, 4))
    with pytest.raises(AggregationError, match="before advertise"):
        fed.clients[A].share_keys({}, fed.public_key_of)
    with pytest.raises(AggregationError, match="before share_keys"):
        fed.clients[A].masked_input(np.zeros(4), {})
    listed = SurvivorList(fed.config.plan, 0, fed.config.sites, ())
    with pytest.raises(AggregationError, match="before masked_input"):
        fed.clients[A].consistency(listed)
    with pytest.raises(AggregationError, match="before collect_masked"):
        fed.hub.survivor_list()


def _chi2_critical(df: int, z: float) -> float:
    """Wilson–Hilferty upper quantile of chi-square(df) for a standard-normal quantile z."""
    c = 2.0 / (9.0 * df)
    return df * (1.0 - c + z * math.sqrt(c)) ** 3


_Z_1E6 = 4.7534  # upper 1e-6 quantile of N(0, 1): a false alarm once in a million runs


def _chi2(counts: np.ndarray) -> float:
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


def test_masked_vector_held_by_the_hub_is_uniform_mod_2_pow_64() -> None:
    """One site's masked all-zero update, over 12 rounds × 2048 coordinates (4096 words):
    chi-square on bytes 7, 4 and 0 of the hi and of the lo words at alpha = 1e-6 (fixed,
    so not flaky)."""
    samples = []
    for rnd in range(12):
        fed = Federation.create(make_config(3, 2, 2048, rnd=rnd))
        routed = fed.share(fed.advertise())
        zeros = {s: np.zeros(2048) for s in fed.config.sites}
        samples.append(fed.mask(zeros, routed)[A].reshape(2, 2048))
    held = np.concatenate(samples, axis=1)
    critical = _chi2_critical(255, _Z_1E6)
    for name, words in (("hi", held[0]), ("lo", held[1])):
        for shift in (56, 32, 0):
            counts = np.bincount(
                ((words >> np.uint64(shift)) & np.uint64(0xFF)).astype(np.int64), minlength=256
            )
            assert _chi2(counts) < critical, f"{name} bits {shift}..{shift + 7} are not uniform"
    plain = make_config(3, 2, 4096).quantizer.encode(np.linspace(-1.0, 1.0, 4096))
    counts = np.bincount(
        ((plain[4096:] >> np.uint64(32)) & np.uint64(0xFF)).astype(np.int64), minlength=256
    )
    assert _chi2(counts) > critical  # the test has power: plain codes fail it
