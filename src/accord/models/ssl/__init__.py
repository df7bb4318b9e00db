"""Self-supervised (SimCLR) pretraining of a small tile encoder on a site's own tiles.

A consortium can grow its own pathology backbone without downloading one: each site
runs :func:`train_simclr_local` from the global weights, FedAvg combines the named
arrays (no BatchNorm statistics to aggregate), and :func:`export_encoder` writes the
encoder as a TorchScript backbone that the feature-extractor code loads like any other.
"""

from accord.models.ssl._augment import MEAN, STD, simclr_views
from accord.models.ssl._encoder import ProjectionHead, SimCLRModel, TileEncoder, build_simclr
from accord.models.ssl._export import export_encoder, preprocessing_path
from accord.models.ssl._loss import nt_xent_loss
from accord.models.ssl._train import SSLResult, train_simclr_local

__all__ = [
    "MEAN",
    "STD",
    "ProjectionHead",
    "SSLResult",
    "SimCLRModel",
    "TileEncoder",
    "build_simclr",
    "export_encoder",
    "nt_xent_loss",
    "preprocessing_path",
    "simclr_views",
    "train_simclr_local",
]
