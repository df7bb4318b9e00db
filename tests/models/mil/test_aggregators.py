"""Shapes, masks and hand cases of the three aggregators and the fusion wrappers."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from accord.core import ConfigError, DataError
from accord.models.mil import (
    Chowder,
    GatedAttentionMIL,
    LateFusion,
    MeanPoolMIL,
    build_mil,
    extreme_scores,
)

DIM = 6
KINDS = ["chowder", "abmil", "meanpool"]


def _bags(lengths: list[int], width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random real tiles, padded with garbage (huge values, inf, NaN) under mask=False."""
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(len(lengths), width, DIM, generator=gen)
    mask = torch.arange(width).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    garbage = torch.randn(len(lengths), width, DIM, generator=gen) * 1e6
    garbage[..., 0] = float("nan")
    garbage[..., 1] = float("inf")
    return torch.where(mask.unsqueeze(-1), features, garbage), mask


def _model(kind: str) -> nn.Module:
    return build_mil(kind, DIM, seed=3).eval()


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_have_one_risk_and_one_score_per_tile(kind: str) -> None:
    features, mask = _bags([7, 3, 12], width=12)
    model = _model(kind)
    assert model(features, mask).shape == (3,)
    scores = model.tile_scores(features, mask)  # type: ignore[operator]
    assert scores.shape == (3, 12)
    assert torch.all(scores[~mask] == 0)
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("kind", KINDS)
def test_padding_with_garbage_never_changes_the_risk(kind: str) -> None:
    features, mask = _bags([5, 9, 2], width=9)
    padded = torch.cat([features, torch.full((3, 20, DIM), float("nan"))], dim=1)
    wide_mask = torch.cat([mask, torch.zeros(3, 20, dtype=torch.bool)], dim=1)
    model = _model(kind)
    with torch.no_grad():
        alone = torch.stack(
            [
                model(features[i : i + 1, :n], mask[i : i + 1, :n])[0]
                for i, n in enumerate([5, 9, 2])
            ]
        )
        torch.testing.assert_close(model(features, mask), alone)
        torch.testing.assert_close(model(padded, wide_mask), alone)


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 10), min_size=1, max_size=4),
    extra=st.integers(0, 5),
    kind=st.sampled_from(KINDS),
)
def test_padding_invariance_holds_for_any_bag_sizes(
    lengths: list[int], extra: int, kind: str
) -> None:
    features, mask = _bags(lengths, width=max(lengths) + extra, seed=len(lengths))
    model = _model(kind)
    with torch.no_grad():
        batch = model(features, mask)
        for i, n in enumerate(lengths):
            single = model(features[i : i + 1, :n], mask[i : i + 1, :n])
            torch.testing.assert_close(batch[i : i + 1], single)


def test_attention_rows_sum_to_one_over_real_tiles() -> None:
    features, mask = _bags([1, 4, 10], width=10)
    weights = GatedAttentionMIL(DIM, hidden=8).eval().attention(features, mask)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
    assert torch.all(weights[~mask] == 0)
    assert torch.all(weights[mask] > 0)
    assert weights[0, 0] == 1.0


def test_extreme_scores_hand_case() -> None:
    scores = torch.tensor([[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]])
    mask = torch.tensor([[True, True, True, True, True, False, True, True]])  # hides the 9
    assert extreme_scores(scores, mask, 2).tolist() == [[6.0, 5.0, 1.0, 1.0]]


def test_extreme_scores_of_small_bags_repeat_the_last_sorted_value() -> None:
    scores = torch.tensor([[2.0, 7.0, 99.0, -99.0], [5.0, 0.0, 0.0, 0.0], [1, 2, 3, 4.0]])
    mask = torch.tensor([[True, True, False, False], [True, False, False, False], [True] * 4])
    out = extreme_scores(scores, mask, 3)
    assert out[0].tolist() == [7.0, 2.0, 2.0, 2.0, 7.0, 7.0]  # top padded with min, bottom max
    assert out[1].tolist() == [5.0] * 6  # one tile: 2R copies of its score
    assert out[2].tolist() == [4.0, 3.0, 2.0, 1.0, 2.0, 3.0]  # R <= n < 2R: lists overlap


def test_extreme_scores_when_the_padded_width_is_below_r() -> None:
    out = extreme_scores(torch.tensor([[1.0, 3.0]]), torch.tensor([[True, True]]), 4)
    assert out.tolist() == [[3.0, 1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 3.0]]


def test_chowder_feeds_the_extreme_tile_scores_to_its_mlp() -> None:
    model = Chowder(DIM, n_extreme=2, hidden=(4,), dropout=0.0).eval()
    with torch.no_grad():
        model.score.weight.zero_()
        model.score.weight[0, 0] = 1.0
        model.score.bias.zero_()
    features, mask = _bags([5], width=5)
    extremes = extreme_scores(features[..., 0], mask, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(features, mask), model.mlp(extremes).squeeze(-1))
        torch.testing.assert_close(model.tile_scores(features, mask), features[..., 0])


def test_mean_pool_tile_scores_are_the_risk_of_one_tile_bags() -> None:
    model = MeanPoolMIL(DIM, hidden=8).eval()
    features, mask = _bags([4], width=4)
    with torch.no_grad():
        scores = model.tile_scores(features, mask)[0]
        singles = torch.stack(
            [model(features[:, i : i + 1], mask[:, i : i + 1])[0] for i in range(4)]
        )
    torch.testing.assert_close(scores, singles)


@pytest.mark.parametrize("kind", KINDS)
def test_parameters_are_float32_and_there_are_no_buffers(kind: str) -> None:
    model = build_mil(kind, DIM, n_clinical=2)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert list(model.named_buffers()) == []


def test_a_bag_without_real_tiles_is_refused() -> None:
    features, mask = _bags([3, 1], width=3)
    mask[1] = False
    with pytest.raises(DataError, match="no real tile"):
        Chowder(DIM)(features, mask)


def test_mask_must_match_the_features() -> None:
    features, _ = _bags([3], width=3)
    with pytest.raises(DataError, match="mask has shape"):
        MeanPoolMIL(DIM)(features, torch.ones(1, 4, dtype=torch.bool))


def test_plain_aggregators_refuse_clinical_covariates() -> None:
    features, mask = _bags([3], width=3)
    with pytest.raises(ConfigError, match="LateFusion"):
        GatedAttentionMIL(DIM)(features, mask, torch.zeros(1, 2))


def test_late_fusion_adds_a_linear_clinical_term_to_the_mil_risk() -> None:
    features, mask = _bags([4, 2], width=4)
    mil = MeanPoolMIL(DIM, hidden=8).eval()
    fused = LateFusion(mil, n_clinical=2).eval()
    clinical = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
    with torch.no_grad():
        torch.testing.assert_close(fused(features, mask, clinical), mil(features, mask))
        fused.clinical.weight.copy_(torch.tensor([[0.5, -1.0]]))
        expected = mil(features, mask) + torch.tensor([-1.5, -1.0])
        torch.testing.assert_close(fused(features, mask, clinical), expected)
        torch.testing.assert_close(
            fused.tile_scores(features, mask), mil.tile_scores(features, mask)
        )
    with pytest.raises(DataError, match="clinical covariates are missing"):
        fused(features, mask)
    with pytest.raises(DataError, match=r"expected \(2, 2\)"):
        fused(features, mask, torch.zeros(2, 3))


def test_chowder_refuses_a_zero_extreme_count() -> None:
    with pytest.raises(ConfigError, match="n_extreme"):
        Chowder(DIM, n_extreme=0)
