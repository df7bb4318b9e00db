"""Message bytes, config validation and the hub's checks on what sites send."""

from __future__ import annotations

import numpy as np
import pytest

from accord.core import AggregationError, ConfigError, TransportError
from accord.crypto.secagg import (
    Advertisement,
    Quantizer,
    SecAggConfig,
    SurvivorList,
    UnmaskRequest,
    pack_bytes_map,
    unpack_bytes_map,
)
from accord.crypto.secagg._messages import context
from tests.crypto.secagg.simulate import Federation, make_config, random_updates, site_names


def test_advertisement_round_trip_is_canonical() -> None:
    fed = Federation.create(make_config(3, 2, 4))
    advert = fed.advertise()["site-00"]
    data = advert.to_bytes()
    assert Advertisement.from_bytes(data) == advert
    assert b" " not in data and data.index(b'"c_pk"') < data.index(b'"plan"')


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"plan":"p","round":true}', "field 'round'"),
        (
            b'{"plan":"p","round":0,"site":"s","c_pk":"AA==","s_pk":"AA==","signature":""}',
            "field 'c_pk' has 1 bytes; expected 32",
        ),
    ],
)
def test_malformed_advertisement(data: bytes, match: str) -> None:
    with pytest.raises(TransportError, match=match):
        Advertisement.from_bytes(data)


def test_survivor_list_unmask_request_and_byte_maps_round_trip() -> None:
    listed = SurvivorList("plan", 3, ("a", "b"), ("c",))
    assert SurvivorList.from_bytes(listed.to_bytes()) == listed
    request = UnmaskRequest("plan", 3, ("a", "b"), ("c",), {"a": b"\x01" * 64, "b": b""})
    assert UnmaskRequest.from_bytes(request.to_bytes()) == request
    assert request.survivor_list == listed
    with pytest.raises(TransportError, match="field 'survivors' must list site names"):
        SurvivorList.from_bytes(b'{"plan":"p","round":0,"survivors":[1],"dropped":[]}')


def test_what_a_survivor_signs_is_unambiguous_and_bound_to_the_run() -> None:
    one = SurvivorList("p", 0, ("a", "b"), ("c",)).signed_bytes(b"s" * 32)
    assert one != SurvivorList("p", 0, ("a",), ("b", "c")).signed_bytes(b"s" * 32)
    assert one != SurvivorList("p", 0, ("a", "b", "c"), ()).signed_bytes(b"s" * 32)
    assert one != SurvivorList("p", 0, ("a", "b"), ("c",)).signed_bytes(b"t" * 32)
    assert one != SurvivorList("p", 1, ("a", "b"), ("c",)).signed_bytes(b"s" * 32)
    items = {"a": b"\x00\x01", "b": b""}
    assert unpack_bytes_map(pack_bytes_map(items)) == items
    with pytest.raises(TransportError, match="field 'a' is not valid base64"):
        unpack_bytes_map(b'{"a":"***"}')


def test_context_is_unambiguous() -> None:
    assert context("ab", "c") != context("a", "bc")
    assert context("p", 1) == context("p", "1")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"threshold": 2}, r"threshold': 2 must exceed half of site site-00's 5 share holders"),
        ({"threshold": 6}, "at most 5"),
        ({"k": 2, "threshold": 4}, "at most 3"),
        ({"plan": ""}, "'plan'"),
        ({"round": -1}, "'round'"),
        ({"sites": ("a",)}, "'sites': 1"),
        ({"vector_length": 0}, "'vector_length'"),
        ({"quantizer": Quantizer(1.0, 3)}, "sized for 3 summands but 5 sites"),
        ({"k": 1}, "k must be None or an integer >= 2"),
    ],
)
def test_config_validation(changes: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {
        "plan": "p",
        "round": 0,
        "sites": site_names(5),
        "threshold": 3,
        "vector_length": 4,
        "quantizer": Quantizer(1.0, 5),
    }
    with pytest.raises(ConfigError, match=match):
        SecAggConfig(**{**fields, **changes})  # type: ignore[arg-type]


def test_hub_rejects_shares_to_non_neighbours() -> None:
    fed = Federation.create(make_config(4, 3, 4))
    adverts = fed.advertise()
    outgoing = {s: fed.clients[s].share_keys(adverts, fed.public_key_of) for s in adverts}
    del outgoing["site-00"]["site-01"]
    with pytest.raises(AggregationError, match="site-00 sent shares to 2 sites; expected its 3"):
        fed.hub.route_shares(outgoing)


def test_hub_rejects_malformed_masked_input() -> None:
    fed = Federation.create(make_config(3, 2, 4))
    routed = fed.share(fed.advertise())
    masked = fed.mask(random_updates(fed.config.sites, 4, 0), routed)
    masked["site-01"] = masked["site-01"].astype(np.int64)
    with pytest.raises(AggregationError, match=r"site-01 is int64\(8,\); expected uint64\(8,\)"):
        fed.hub.collect_masked(masked)


def test_hub_rejects_a_share_sent_under_another_holders_index() -> None:
    fed = Federation.create(make_config(3, 2, 4))
    routed = fed.share(fed.advertise())
    fed.hub.collect_masked(fed.mask(random_updates(fed.config.sites, 4, 0), routed))
    replies = fed.unmask(fed.sign())
    replies["site-00"] = replies["site-01"]
    with pytest.raises(AggregationError, match="site-00 sent a share for another holder"):
        fed.hub.finalize(replies)
