"""Heatmap overlays and tile galleries (implemented in :mod:`accord.wsi._overlay`, where sites
render them; the report embeds the PNGs they choose to release)."""

from accord.wsi import (
    COLORMAPS,
    apply_colormap,
    heatmap_overlay,
    png_data_uri,
    tile_gallery,
)

__all__ = ["COLORMAPS", "apply_colormap", "heatmap_overlay", "png_data_uri", "tile_gallery"]
