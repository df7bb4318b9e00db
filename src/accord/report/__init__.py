"""HTML study reports and their figures, with no plotting dependency.

Charts are inline SVG (:mod:`accord.report._svg`), slide heatmaps and tile galleries are
PNG data URIs (:mod:`accord.report._images`), and :class:`Report` assembles them into one
self-contained HTML file where every table row and figure names the ledger entry that
produced it.
"""

from accord.report._document import Report
from accord.report._figure import Figure
from accord.report._images import (
    COLORMAPS,
    apply_colormap,
    heatmap_overlay,
    png_data_uri,
    tile_gallery,
)
from accord.report._km import (
    format_p_value,
    group_curves,
    km_figure,
    km_figure_from_counts,
    km_figure_from_curves,
)
from accord.report._svg import Series, bar_chart_with_ci, line_chart, step_chart

__all__ = [
    "COLORMAPS",
    "Figure",
    "Report",
    "Series",
    "apply_colormap",
    "bar_chart_with_ci",
    "format_p_value",
    "group_curves",
    "heatmap_overlay",
    "km_figure",
    "km_figure_from_counts",
    "km_figure_from_curves",
    "line_chart",
    "png_data_uri",
    "step_chart",
    "tile_gallery",
]
