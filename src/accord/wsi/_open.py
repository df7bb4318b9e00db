"""Opening a slide: :func:`open_slide` picks the backend a file's suffix calls for.

The backends (:mod:`accord.wsi._tiff_reader`, :mod:`accord.wsi._openslide_reader`) build on
:mod:`accord.wsi._reader`; this module sits above all three, so the base class never
imports a backend.
"""

from __future__ import annotations

import math
from pathlib import Path

from accord.core import SlideReadError
from accord.wsi._reader import SlideReader

__all__ = ["OPENSLIDE_SUFFIXES", "TIFF_SUFFIXES", "open_slide"]

#: Suffixes each backend claims; TIFFs fall back to OpenSlide when tifffile cannot use them.
TIFF_SUFFIXES = (".ome.tif", ".ome.tiff", ".tif", ".tiff")
OPENSLIDE_SUFFIXES = (".svs", ".ndpi", ".mrxs", ".scn", ".bif", ".vms", ".vmu", ".svslide")


def open_slide(path: Path, mpp: float | None = None, *, backend: str | None = None) -> SlideReader:
    """Open a slide with the backend its suffix calls for (or ``backend``: tiff|openslide).

    ``mpp`` (microns per level-0 pixel) is used only when the file's metadata has none.
    Raises :class:`SlideReadError` naming the file for a missing, corrupt or unsupported
    slide, or one without mpp.
    """
    # Imported on first use so that importing accord.wsi (and the CLI) loads no backend.
    from accord.wsi._openslide_reader import OpenSlideReader
    from accord.wsi._tiff_reader import CorruptSlideError, TiffReader

    backends: dict[str, type[TiffReader] | type[OpenSlideReader]] = {
        "tiff": TiffReader,
        "openslide": OpenSlideReader,
    }
    path = Path(path)
    _check_openable(path, mpp)
    if backend is not None:
        if backend not in backends:
            raise SlideReadError(f"{path.name}: unknown slide backend {backend!r}")
        return backends[backend](path, mpp)
    name = path.name.lower()
    if name.endswith(OPENSLIDE_SUFFIXES):
        return OpenSlideReader(path, mpp)
    if not name.endswith(TIFF_SUFFIXES):
        raise SlideReadError(
            f"{path.name}: unsupported slide format {path.suffix!r}; expected one of "
            + ", ".join(TIFF_SUFFIXES + OPENSLIDE_SUFFIXES)
        )
    try:
        return TiffReader(path, mpp)
    except CorruptSlideError:
        raise  # a broken TIFF, not one tifffile cannot use: OpenSlide would read it lazily
    except SlideReadError as first:
        try:
            return OpenSlideReader(path, mpp)
        except SlideReadError:
            raise first from None


def _check_openable(path: Path, mpp: float | None) -> None:
    if not path.is_file():
        raise SlideReadError(f"{path.name}: slide file not found")
    if mpp is not None and not (math.isfinite(mpp) and mpp > 0):
        raise SlideReadError(f"{path.name}: the given mpp must be > 0 (got {mpp!r})")
