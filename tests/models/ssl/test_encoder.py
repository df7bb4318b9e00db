from __future__ import annotations

import pytest
import torch
from torch import nn

from accord.core import ConfigError
from accord.models import get_arrays
from accord.models.ssl import ProjectionHead, SimCLRModel, TileEncoder, build_simclr


@pytest.mark.parametrize("size", [16, 64, 96])
def test_encoder_maps_any_tile_size_to_dim(size: int) -> None:
    model = build_simclr(dim=24, width=8, seed=0)
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        assert model.encoder(x).shape == (3, 24)
        assert model(x).shape == (3, 64)


def test_build_is_seeded_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = build_simclr(seed=5), build_simclr(seed=5), build_simclr(seed=6)
    assert torch.equal(torch.rand(1), expected_next)
    arrays_a, arrays_b, arrays_c = get_arrays(a), get_arrays(b), get_arrays(c)
    assert all((arrays_a[k] == arrays_b[k]).all() for k in arrays_a)
    assert any((arrays_a[k] != arrays_c[k]).any() for k in arrays_a)


def test_every_state_entry_is_a_parameter_and_no_batchnorm() -> None:
    # FedAvg moves parameters only: running statistics or other buffers would be lost.
    model = build_simclr()
    assert list(model.named_buffers()) == []
    assert set(model.state_dict()) == {name for name, _ in model.named_parameters()}
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in model.modules())


def test_output_of_one_tile_does_not_depend_on_the_batch() -> None:
    # GroupNorm normalises per sample; BatchNorm would leak batch statistics here.
    model = build_simclr(width=8, seed=1)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        together = model.encoder(x)
        alone = model.encoder(x[2:3])
    torch.testing.assert_close(together[2:3], alone, rtol=1e-5, atol=1e-5)


def test_simclr_model_is_head_after_encoder() -> None:
    encoder, head = TileEncoder(dim=16, width=8), ProjectionHead(16, 16, 8)
    model = SimCLRModel(encoder, head)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), head(encoder(x)))


def test_rejects_empty_encoder() -> None:
    with pytest.raises(ConfigError, match="dim and width must be >= 1"):
        TileEncoder(dim=0)
