"""Slide backend for the formats OpenSlide reads (Aperio, Hamamatsu, MIRAX, Leica, Ventana...)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openslide

from accord.core import SlideReadError
from accord.wsi._reader import LevelInfo, SlideInfo, SlideReader

__all__ = ["OpenSlideReader"]


class OpenSlideReader(SlideReader):
    """An OpenSlide slide; ``mpp`` is used only where the file's metadata has none."""

    def __init__(self, path: Path, mpp: float | None = None) -> None:
        try:
            self._slide = openslide.OpenSlide(path)
        except openslide.OpenSlideUnsupportedFormatError as exc:
            raise SlideReadError(f"{path.name}: format not recognised by OpenSlide") from exc
        except Exception as exc:
            msg = f"{path.name}: corrupt or unreadable slide ({type(exc).__name__})"
            raise SlideReadError(msg) from exc
        try:
            self.info = _slide_info(path, self._slide, mpp)
        except BaseException:
            self._slide.close()
            raise

    def close(self) -> None:
        self._slide.close()

    def read_region(self, x: int, y: int, width: int, height: int, level: int = 0) -> np.ndarray:
        if width < 1 or height < 1 or not 0 <= level < len(self.info.levels):
            raise SlideReadError(f"{self.info.path.name}: bad region {width}x{height} @ {level}")
        try:
            rgba = self._slide.read_region((x, y), level, (width, height))
        except Exception as exc:
            msg = f"{self.info.path.name}: corrupt image data at level {level}"
            raise SlideReadError(f"{msg} ({type(exc).__name__})") from exc
        return _on_white(np.asarray(rgba, dtype=np.uint8))


def _on_white(rgba: np.ndarray) -> np.ndarray:
    """Composite OpenSlide's (non-premultiplied) RGBA onto white; transparent = outside."""
    alpha = rgba[..., 3:4].astype(np.uint16)
    if int(alpha.min()) == 255:
        return np.ascontiguousarray(rgba[..., :3])
    rgb = rgba[..., :3].astype(np.uint16)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _slide_info(path: Path, slide: openslide.OpenSlide, mpp: float | None) -> SlideInfo:
    props = slide.properties
    found = _positive(props.get(openslide.PROPERTY_NAME_MPP_X))
    if found is None:
        if mpp is None:
            raise SlideReadError(
                f"{path.name}: no microns-per-pixel in the metadata; set the study's slide mpp"
            )
        found = mpp
    width, height = slide.dimensions
    levels = tuple(
        LevelInfo(w, h, float(ds))
        for (w, h), ds in zip(slide.level_dimensions, slide.level_downsamples, strict=True)
    )
    return SlideInfo(
        path=path,
        backend="openslide",
        vendor=props.get(openslide.PROPERTY_NAME_VENDOR) or "unknown",
        width=width,
        height=height,
        mpp=found,
        magnification=_positive(props.get(openslide.PROPERTY_NAME_OBJECTIVE_POWER)),
        levels=levels,
    )


def _positive(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None
