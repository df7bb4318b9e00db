"""Generators for synthetic consortia: whole-slide images with planted HCC histology.

``write_slide`` paints a pyramidal tiled OME-TIFF (tile by tile, memory-flat) and returns
its ground truth (:class:`SyntheticSlide`); ``write_cohort_slides`` does so for a site's
patients; ``HOSPITAL_PROFILES`` are the sites' stains and scanners.
"""

from accord.synth.histology import paint_region
from accord.synth.layout import PATTERNS
from accord.synth.slides import SyntheticSlide, write_cohort_slides, write_slide
from accord.synth.stain import HOSPITAL_PROFILES, StainProfile, render_he

__all__ = [
    "HOSPITAL_PROFILES",
    "PATTERNS",
    "StainProfile",
    "SyntheticSlide",
    "paint_region",
    "render_he",
    "write_cohort_slides",
    "write_slide",
]
