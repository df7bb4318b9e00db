"""Microns-per-pixel, magnification and vendor from TIFF metadata (Aperio, OME, resolution tags).

Each function returns ``None`` when the file does not say; implausible values (outside
0.01-100 µm/px, e.g. the 72 dpi default of image editors) count as not said.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import tifffile

__all__ = ["tiff_magnification", "tiff_mpp", "tiff_vendor"]

_PLAUSIBLE_MPP = (0.01, 100.0)
#: Microns per resolution unit (TIFF ResolutionUnit 2-5; 1 means "no unit").
_MICRONS_PER_UNIT = {2: 25_400.0, 3: 10_000.0, 4: 1_000.0, 5: 1.0}
#: Microns per OME length unit.
_MICRONS_PER_OME_UNIT = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}


def tiff_vendor(tif: tifffile.TiffFile) -> str:
    """``aperio``, ``ome`` or ``generic-tiff``."""
    if tif.is_svs:
        return "aperio"
    return "ome" if tif.is_ome else "generic-tiff"


def tiff_mpp(tif: tifffile.TiffFile) -> float | None:
    """Microns per level-0 pixel: Aperio ``MPP =``, OME ``PhysicalSizeX``, else XResolution."""
    for found in (_aperio_value(tif, "MPP"), _ome_mpp(tif), _resolution_mpp(tif)):
        if found is not None and _PLAUSIBLE_MPP[0] <= found <= _PLAUSIBLE_MPP[1]:
            return found
    return None


def tiff_magnification(tif: tifffile.TiffFile) -> float | None:
    """Objective magnification: Aperio ``AppMag =`` or OME ``NominalMagnification``."""
    found = _aperio_value(tif, "AppMag")
    if found is None and tif.is_ome:
        objective = _ome_element(tif, "Objective")
        found = _float(objective.get("NominalMagnification")) if objective is not None else None
    return found if found is not None and found > 0 else None


def _aperio_value(tif: tifffile.TiffFile, key: str) -> float | None:
    if not tif.is_svs:
        return None
    match = re.search(rf"\|\s*{key}\s*=\s*([0-9.eE+-]+)", tif.pages.first.description)
    return _float(match.group(1)) if match else None


def _ome_mpp(tif: tifffile.TiffFile) -> float | None:
    pixels = _ome_element(tif, "Pixels") if tif.is_ome else None
    if pixels is None:
        return None
    size = _float(pixels.get("PhysicalSizeX"))
    factor = _MICRONS_PER_OME_UNIT.get(pixels.get("PhysicalSizeXUnit", "µm"))
    return size * factor if size is not None and factor is not None else None


def _ome_element(tif: tifffile.TiffFile, name: str) -> ET.Element | None:
    try:
        root = ET.fromstring(tif.ome_metadata or "")
    except ET.ParseError:
        return None
    return next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == name), None)


def _resolution_mpp(tif: tifffile.TiffFile) -> float | None:
    page = tif.pages.first
    unit_tag, res_tag = page.tags.get("ResolutionUnit"), page.tags.get("XResolution")
    if unit_tag is None or res_tag is None:
        return None
    microns = _MICRONS_PER_UNIT.get(int(unit_tag.value))
    numerator, denominator = res_tag.value
    if microns is None or numerator <= 0 or denominator <= 0:
        return None
    return microns * float(denominator) / float(numerator)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
