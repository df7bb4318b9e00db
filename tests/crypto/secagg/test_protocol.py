"""Whole rounds: the unmasked sum equals the plain quantised sum, with dropouts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accord.core import AggregationError
from accord.crypto.secagg import SecAggConfig, neighbours
from tests.crypto.secagg.simulate import (
    GRAPH_SEED,
    Federation,
    make_config,
    quantised_sum,
    random_updates,
    site_names,
)

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _recoverable(
    config: SecAggConfig, survivors: set[str], repliers: set[str], dropped: set[str]
) -> bool:
    """Whether every needed secret has t shares among the repliers (SecAgg+ is per site)."""
    t = config.threshold
    needed = set(survivors)
    needed |= {d for d in dropped if set(config.neighbours_of(d)) & survivors}
    return all(len(set(config.holders_of(s)) & repliers) >= t for s in needed)


@PROPERTY
@given(n=st.integers(3, 12), length=st.integers(1, 500), seed=st.integers(0, 2**32), data=st.data())
def test_sum_is_exact_with_dropouts_up_to_n_minus_t(
    n: int, length: int, seed: int, data: st.DataObject
) -> None:
    t = data.draw(st.integers(n // 2 + 1, n), label="threshold")
    config = make_config(n, t, length)
    drops = data.draw(st.lists(st.sampled_from(config.sites), max_size=n - t, unique=True))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(drops)), min_size=2, max_size=2)))
    before = set(drops[: cuts[0]])  # before masking: left out of the sum
    after = set(drops[cuts[0] : cuts[1]])  # after masking, before signing the list
    unsigned = set(drops[cuts[1] :])  # after signing, before unmasking
    vectors = random_updates(config.sites, length, seed)
    fed = Federation.create(config)
    total = fed.run(vectors, before_mask=before, after_mask=after, after_sign=unsigned)
    expected = quantised_sum(config, {s: v for s, v in vectors.items() if s not in before})
    assert np.array_equal(total, expected)
    plain = sum(v for s, v in vectors.items() if s not in before)
    assert np.all(np.abs(total - plain) <= config.quantizer.error_bound(n) + 1e-15)


@PROPERTY
@given(n=st.integers(5, 12), length=st.integers(1, 200), seed=st.integers(0, 2**32), data=st.data())
def test_secagg_plus_sparse_graph_is_exact_or_aborts_cleanly(
    n: int, length: int, seed: int, data: st.DataObject
) -> None:
    k = data.draw(st.integers(2, n - 2), label="k")
    sizes = [len(v) + 1 for v in neighbours(site_names(n), k, GRAPH_SEED).values()]
    t = data.draw(st.integers(max(sizes) // 2 + 1, min(sizes)), label="threshold")
    config = make_config(n, t, length, k=k)
    drops = data.draw(st.lists(st.sampled_from(config.sites), max_size=n - t, unique=True))
    split = data.draw(st.integers(0, len(drops)))
    before, after = set(drops[:split]), set(drops[split:])
    vectors = random_updates(config.sites, length, seed)
    survivors = set(config.sites) - before
    recoverable = _recoverable(config, survivors, survivors - after, before)
    event(f"recoverable={recoverable}")
    if recoverable:
        total = Federation.create(config).run(vectors, before_mask=before, after_mask=after)
        expected = quantised_sum(config, {s: vectors[s] for s in survivors})
        assert np.array_equal(total, expected)
    else:
        with pytest.raises(AggregationError, match=r"fewer than \d+ shares for site"):
            Federation.create(config).run(vectors, before_mask=before, after_mask=after)


def test_secagg_plus_at_forty_sites_with_ten_percent_dropout() -> None:
    config = make_config(40, 8, 300, k=10)
    vectors = random_updates(config.sites, 300, 7)
    before, after = {"site-03", "site-17"}, {"site-25", "site-31"}
    total = Federation.create(config).run(vectors, before_mask=before, after_mask=after)
    expected = quantised_sum(config, {s: v for s, v in vectors.items() if s not in before})
    assert np.array_equal(total, expected)
    assert max(len(config.neighbours_of(s)) for s in config.sites) == 10


def test_sites_missing_at_advertising_or_sharing_are_left_out() -> None:
    config = make_config(7, 4, 50)
    fed = Federation.create(config)
    vectors = random_updates(config.sites, 50, 3)
    adverts = fed.advertise(absent={"site-00"})
    routed = fed.share(adverts, absent={"site-01"})
    assert set(routed) == set(config.sites) - {"site-00", "site-01"}
    masked = fed.mask(vectors, routed)
    survivors, dropped = fed.hub.collect_masked(masked)
    assert dropped == []
    replies = fed.unmask(fed.sign())
    expected = quantised_sum(config, {s: vectors[s] for s in survivors})
    assert np.array_equal(fed.hub.finalize(replies), expected)


def test_below_threshold_at_masking_aborts_cleanly() -> None:
    config = make_config(6, 4, 10)
    fed = Federation.create(config)
    routed = fed.share(fed.advertise())
    vectors = random_updates(config.sites, 10, 1)
    masked = fed.mask(vectors, routed, absent={"site-00", "site-01", "site-02"})
    with pytest.raises(
        AggregationError, match="only 3 sites sent masked input; the threshold is 4"
    ):
        fed.hub.collect_masked(masked)


def test_below_threshold_at_unmasking_names_the_site() -> None:
    config = make_config(6, 4, 10)
    fed = Federation.create(config)
    vectors = random_updates(config.sites, 10, 1)
    with pytest.raises(AggregationError, match="fewer than 4 shares for site site-00"):
        fed.run(vectors, before_mask={"site-05"}, after_sign={"site-03", "site-04"})


def test_below_threshold_at_signing_aborts_cleanly() -> None:
    config = make_config(6, 4, 10)
    fed = Federation.create(config)
    fed.hub.collect_masked(
        fed.mask(random_updates(config.sites, 10, 1), fed.share(fed.advertise()))
    )
    with pytest.raises(
        AggregationError, match="only 3 sites signed the survivor list; the threshold is 4"
    ):
        fed.sign(absent={"site-00", "site-01", "site-02"})


def test_below_threshold_at_advertising_aborts() -> None:
    config = make_config(5, 3, 4)
    fed = Federation.create(config)
    with pytest.raises(AggregationError, match="only 2 sites advertised keys"):
        fed.advertise(absent={"site-00", "site-01", "site-02"})
