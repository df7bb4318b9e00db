"""Generators for synthetic consortia: whole-slide images with planted HCC histology.

``write_slide`` paints a pyramidal tiled OME-TIFF (tile by tile, memory-flat) and returns
its ground truth (:class:`SyntheticSlide`); ``write_cohort_slides`` does so for a site's
patients; ``HOSPITAL_PROFILES`` are the sites' stains and scanners.
``generate_hcc_consortium`` writes a whole HCC-after-resection consortium (slides, clinical
tables with Cox–Weibull survival from :func:`simulate_clinical`, and the ground truth);
``simulate_cohort_csv`` a clinical-only multi-centre cohort as one CSV with a site column.
"""

from accord.synth._clinical import simulate_clinical
from accord.synth._cohort_csv import COHORT_LOG_HR, simulate_cohort_csv
from accord.synth._hcc import HCCConsortium, generate_hcc_consortium
from accord.synth._histology import paint_region
from accord.synth._layout import PATTERNS
from accord.synth._slides import SyntheticSlide, write_cohort_slides, write_slide
from accord.synth._stain import HOSPITAL_PROFILES, StainProfile, render_he

__all__ = [
    "COHORT_LOG_HR",
    "HOSPITAL_PROFILES",
    "PATTERNS",
    "HCCConsortium",
    "StainProfile",
    "SyntheticSlide",
    "generate_hcc_consortium",
    "paint_region",
    "render_he",
    "simulate_clinical",
    "simulate_cohort_csv",
    "write_cohort_slides",
    "write_slide",
]
