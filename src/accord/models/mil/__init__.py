"""Multiple-instance survival models on padded bags of tile features.

Aggregators (:class:`Chowder`, :class:`GatedAttentionMIL`, :class:`MeanPoolMIL`) map
``features (B, N, D)``, ``mask (B, N)`` to ``(B,)`` log-risks; :class:`LateFusion` adds
clinical covariates, :class:`DiscreteTimeMIL` a discrete-time head. Every parameter is a
plain ``nn.Parameter`` (no running statistics), so models cross the federated seam with
:func:`accord.models._params.get_arrays` / ``set_arrays``.
"""

from accord.models.mil._attention import GatedAttentionMIL
from accord.models.mil._base import MILModel, TileScorer
from accord.models.mil._chowder import Chowder, extreme_scores
from accord.models.mil._fusion import ClinicalOnly, Ensemble, LateFusion
from accord.models.mil._heads import DiscreteTimeHead, DiscreteTimeMIL, risk_from_output
from accord.models.mil._losses import (
    CoxLoss,
    DiscreteTimeLoss,
    SurvivalLoss,
    discrete_time_nll,
    interval_edges,
    interval_index,
)
from accord.models.mil._pooling import MeanPoolMIL
from accord.models.mil._registry import MIL_MODELS, build_mil
from accord.models.mil._train import (
    MILBatch,
    MILResult,
    pad_bags,
    predict_risk,
    risk_orientation,
    tile_scores,
    train_mil_local,
)

__all__ = [
    "MIL_MODELS",
    "Chowder",
    "ClinicalOnly",
    "CoxLoss",
    "DiscreteTimeHead",
    "DiscreteTimeLoss",
    "DiscreteTimeMIL",
    "Ensemble",
    "GatedAttentionMIL",
    "LateFusion",
    "MILBatch",
    "MILModel",
    "MILResult",
    "MeanPoolMIL",
    "SurvivalLoss",
    "TileScorer",
    "build_mil",
    "discrete_time_nll",
    "extreme_scores",
    "interval_edges",
    "interval_index",
    "pad_bags",
    "predict_risk",
    "risk_from_output",
    "risk_orientation",
    "tile_scores",
    "train_mil_local",
]
