"""The one colour-scale legend shared by every tile heatmap in a report.

Sites tint each tile of a slide thumbnail by its score under viridis
(:func:`accord.wsi.heatmap_overlay`, whose anchors follow matplotlib's viridis), from the
lowest score on that slide (dark purple) to the highest (yellow). This figure draws that
scale once, labelled, so every heatmap is read against the same legend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accord.report._render import Figure, render

__all__ = ["HEATMAP_COLOURS", "colour_scale_figure"]

HEATMAP_COLOURS = "dark purple (lowest) through blue and green to yellow (highest)"


def colour_scale_figure(
    label: str,
    low: str,
    high: str,
    *,
    name: str = "heatmap_scale",
    cmap: str = "viridis",
) -> Figure:
    """A horizontal colour bar of ``cmap`` with its ends labelled ``low`` and ``high`` and
    the scale named ``label``."""
    caption = f"Colour scale of every heatmap: {label}; {HEATMAP_COLOURS}."

    def draw(plt: Any) -> Any:
        fig, ax = plt.subplots(figsize=(5.2, 0.85))
        ramp = np.linspace(0.0, 1.0, 256)[None, :]
        ax.imshow(ramp, aspect="auto", cmap=cmap, extent=(0.0, 1.0, 0.0, 1.0))
        ax.set_yticks([])
        ax.set_xticks([0.0, 1.0])
        ax.set_xticklabels([low, high])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_title(label, loc="left", fontsize=9)
        return fig

    return render(name, draw, caption)
