"""Models: survival networks (PyTorch) and the local training loop that sites run."""

from accord.models.cox import LinearCox, MLPCox, build_model
from accord.models.params import get_arrays, set_arrays
from accord.models.training import LocalTrainingConfig, LocalTrainingResult, train_local

__all__ = [
    "LinearCox",
    "LocalTrainingConfig",
    "LocalTrainingResult",
    "MLPCox",
    "build_model",
    "get_arrays",
    "set_arrays",
    "train_local",
]
