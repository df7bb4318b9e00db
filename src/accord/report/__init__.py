"""HTML study reports and their figures.

Charts are drawn with matplotlib (imported only when a figure is drawn) and rendered as
:class:`Figure`: SVG to inline in the HTML, PDF and PNG (300 dpi) for papers, byte-identical
from run to run. Slide heatmaps and tile galleries are PNG data URIs
(:mod:`accord.report._images`). :class:`Report` assembles them into one self-contained
HTML file from the Jinja2 templates in ``accord/report/templates/``, where every table row
and figure names the ledger entry that produced it.
"""

from accord.report._classification import calibration_figure, roc_figure
from accord.report._colour_scale import colour_scale_figure
from accord.report._document import Report
from accord.report._forest import forest_figure, interval_figure
from accord.report._images import (
    COLORMAPS,
    apply_colormap,
    heatmap_overlay,
    png_data_uri,
    tile_gallery,
)
from accord.report._km import at_risk_row, format_p_value, km_figure_from_curves
from accord.report._render import Figure

__all__ = [
    "COLORMAPS",
    "Figure",
    "Report",
    "apply_colormap",
    "at_risk_row",
    "calibration_figure",
    "colour_scale_figure",
    "forest_figure",
    "format_p_value",
    "heatmap_overlay",
    "interval_figure",
    "km_figure_from_curves",
    "png_data_uri",
    "roc_figure",
    "tile_gallery",
]
