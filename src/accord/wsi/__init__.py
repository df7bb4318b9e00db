"""Whole-slide images: readers, tissue detection, tiling by microns-per-pixel, QC, batches."""

from accord.wsi.batch import BatchReport, for_each_slide
from accord.wsi.open import open_slide
from accord.wsi.qc import qc_thumbnail
from accord.wsi.reader import LevelInfo, SlideInfo, SlideReader
from accord.wsi.tiling import Tile, read_tiles, tile_grid
from accord.wsi.tissue import TissueMask, detect_tissue, tissue_mask

__all__ = [
    "BatchReport",
    "LevelInfo",
    "SlideInfo",
    "SlideReader",
    "Tile",
    "TissueMask",
    "detect_tissue",
    "for_each_slide",
    "open_slide",
    "qc_thumbnail",
    "read_tiles",
    "tile_grid",
    "tissue_mask",
]
