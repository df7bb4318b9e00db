"""Whole-slide images: readers, tissue detection, tiling by microns-per-pixel, QC, batches."""

from accord.wsi._batch import BatchReport, for_each_slide
from accord.wsi._cache import FeatureCache, SlideFeatures, TilingParams, slide_hash
from accord.wsi._open import open_slide
from accord.wsi._overlay import (
    COLORMAPS,
    apply_colormap,
    heatmap_overlay,
    png_data_uri,
    tile_gallery,
)
from accord.wsi._qc import qc_thumbnail
from accord.wsi._reader import LevelInfo, SlideInfo, SlideReader
from accord.wsi._stain import MacenkoNormaliser, ReinhardNormaliser, StainNormaliser
from accord.wsi._tiling import Tile, read_tiles, tile_grid
from accord.wsi._tissue import TissueMask, detect_tissue, tissue_mask

__all__ = [
    "COLORMAPS",
    "BatchReport",
    "FeatureCache",
    "LevelInfo",
    "MacenkoNormaliser",
    "ReinhardNormaliser",
    "SlideFeatures",
    "SlideInfo",
    "SlideReader",
    "StainNormaliser",
    "Tile",
    "TilingParams",
    "TissueMask",
    "apply_colormap",
    "detect_tissue",
    "for_each_slide",
    "heatmap_overlay",
    "open_slide",
    "png_data_uri",
    "qc_thumbnail",
    "read_tiles",
    "slide_hash",
    "tile_gallery",
    "tile_grid",
    "tissue_mask",
]
