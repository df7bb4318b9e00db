"""Models: survival networks (PyTorch) and the local training loop that sites run."""

from accord.models._cox import LinearCox, MLPCox, build_model
from accord.models._params import get_arrays, set_arrays
from accord.models._slide_features import extract_features
from accord.models._training import LocalTrainingConfig, LocalTrainingResult, train_local

__all__ = [
    "LinearCox",
    "LocalTrainingConfig",
    "LocalTrainingResult",
    "MLPCox",
    "build_model",
    "extract_features",
    "get_arrays",
    "set_arrays",
    "train_local",
]
