"""Models: survival networks (PyTorch) and the local training loop that sites run."""

from accord.models._cox import LinearCox, MLPCox, build_model
from accord.models._params import get_arrays, set_arrays
from accord.models._slide_features import extract_features
from accord.models._training import (
    LocalTrainingConfig,
    LocalTrainingResult,
    batch_loss,
    train_local,
)

__all__ = [
    "LinearCox",
    "LocalTrainingConfig",
    "LocalTrainingResult",
    "MLPCox",
    "batch_loss",
    "build_model",
    "extract_features",
    "get_arrays",
    "set_arrays",
    "train_local",
]
