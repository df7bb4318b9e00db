"""build_mil: the explicit table of aggregators."""

from __future__ import annotations

import numpy as np
import pytest

from accord.core import ConfigError
from accord.models import get_arrays
from accord.models.mil import (
    MIL_MODELS,
    Chowder,
    GatedAttentionMIL,
    LateFusion,
    MeanPoolMIL,
    build_mil,
)


def test_the_table_names_the_three_aggregators() -> None:
    assert {"chowder": Chowder, "abmil": GatedAttentionMIL, "meanpool": MeanPoolMIL} == MIL_MODELS


def test_build_mil_wraps_in_late_fusion_with_clinical_covariates() -> None:
    model = build_mil("abmil", 8, n_clinical=3, hidden=16)
    assert isinstance(model, LateFusion) and isinstance(model.mil, GatedAttentionMIL)
    assert isinstance(build_mil("chowder", 8, n_extreme=2), Chowder)


def test_build_mil_is_deterministic_for_a_seed() -> None:
    a, b, c = (get_arrays(build_mil("chowder", 8, seed=s)) for s in (1, 1, 2))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_unknown_kinds_and_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="expected one of"):
        build_mil("transmil", 8)
    with pytest.raises(ConfigError, match="rejects its options"):
        build_mil("meanpool", 8, n_extreme=3)
