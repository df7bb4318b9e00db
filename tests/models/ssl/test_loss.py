from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import ConfigError
from accord.models.ssl import nt_xent_loss


def _loop_reference(z1: np.ndarray, z2: np.ndarray, t: float) -> float:
    """NT-Xent straight from the paper's definition, one view at a time."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for k in range(2 * n):
        positive = (k + n) % (2 * n)
        sims = {j: float(z[k] @ z[j]) / t for j in range(2 * n) if j != k}
        denominator = sum(math.exp(s) for s in sims.values())
        total += -math.log(math.exp(sims[positive]) / denominator)
    return total / (2 * n)


class TestHandCases:
    def test_positives_identical_negatives_orthogonal(self) -> None:
        # Each view: positive cosine 1, two negatives cosine 0 -> log(1 + 2 / e^(1/t)).
        eye = torch.eye(2)
        loss = nt_xent_loss(eye, eye.clone(), temperature=1.0)
        assert float(loss) == pytest.approx(math.log(1 + 2 / math.e), rel=1e-6)

    def test_positives_orthogonal_negative_aligned(self) -> None:
        # Each view: positive cosine 0, negatives cosine 0 and 1 -> log(2 + e^(1/t)).
        z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        z2 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        loss = nt_xent_loss(z1, z2, temperature=0.5)
        assert float(loss) == pytest.approx(math.log(2 + math.exp(2.0)) - 0.0, rel=1e-6)

    def test_collapsed_embedding_gives_log_2n_minus_1(self) -> None:
        z = torch.ones(5, 3)
        assert float(nt_xent_loss(z, z.clone())) == pytest.approx(math.log(9), rel=1e-6)

    def test_single_pair_has_zero_loss(self) -> None:
        z1, z2 = torch.tensor([[1.0, 2.0]]), torch.tensor([[-3.0, 0.5]])
        assert float(nt_xent_loss(z1, z2)) == pytest.approx(0.0, abs=1e-7)


@settings(max_examples=40, deadline=None)
@given(
    z=arrays(np.float32, (2, 4, 3), elements=st.floats(-3, 3, width=32)).filter(
        lambda a: bool((np.linalg.norm(a, axis=2) > 0.1).all())
    ),
    t=st.sampled_from([0.1, 0.2, 0.5, 1.0]),
)
def test_matches_loop_reference_and_is_symmetric(z: np.ndarray, t: float) -> None:
    z1, z2 = torch.from_numpy(z[0]), torch.from_numpy(z[1])
    loss = float(nt_xent_loss(z1, z2, t))
    assert loss == pytest.approx(_loop_reference(z[0], z[1], t), rel=1e-4, abs=1e-5)
    assert float(nt_xent_loss(z2, z1, t)) == pytest.approx(loss, rel=1e-5, abs=1e-6)
    order = torch.tensor([2, 0, 3, 1])  # permuting the pairs together changes nothing
    assert float(nt_xent_loss(z1[order], z2[order], t)) == pytest.approx(loss, rel=1e-5, abs=1e-6)
    assert float(nt_xent_loss(3 * z1, 0.5 * z2, t)) == pytest.approx(loss, rel=1e-4, abs=1e-5)


def test_gradient_flows_to_both_views() -> None:
    z1 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    z2 = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), requires_grad=True)
    nt_xent_loss(z1, z2).backward()  # type: ignore[no-untyped-call]
    assert z1.grad is not None and z2.grad is not None
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


def test_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"must both be \(N, d\)"):
        nt_xent_loss(torch.ones(3, 2), torch.ones(4, 2))


def test_rejects_non_positive_temperature() -> None:
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        nt_xent_loss(torch.ones(3, 2), torch.ones(3, 2), temperature=0.0)
