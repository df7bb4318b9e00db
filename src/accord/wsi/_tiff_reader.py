"""Slide backend for TIFF files read with tifffile: pyramidal (SubIFDs, OME, SVS) or flat.

Reads decode only the tiles (or strips) that cover the requested region, one at a time,
so memory follows the region size, not the slide size.

Opening checks the file's structure without decoding a pixel: a tag tifffile could not
read (it logs an ERROR) or a tile or strip of any level whose bytes end past the end of
the file is a :class:`CorruptSlideError`. That is what a truncated copy looks like
(tifffile reads what IFDs it can and carries on), and it must not pass ``wsi info`` only
to fail hours later in the middle of feature extraction. :func:`accord.wsi.open_slide`
does not retry such a file with OpenSlide, which reads lazily and would accept it.
tifffile's own log lines while opening are kept from the terminal (a CLI prints one line
per error); they go to this module's logger at DEBUG.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile

from accord.core import SlideReadError
from accord.wsi._reader import LevelInfo, SlideInfo, SlideReader, level_coordinate
from accord.wsi._tiff_metadata import tiff_magnification, tiff_mpp, tiff_vendor

__all__ = ["CorruptSlideError", "TiffReader"]

log = logging.getLogger(__name__)

#: A single decoded strip or tile larger than this is refused (an untiled giant page).
MAX_SEGMENT_BYTES = 512 * 2**20


class CorruptSlideError(SlideReadError):
    """A TIFF whose structure is broken (truncated, a tag past the end): no fallback."""


class TiffReader(SlideReader):
    """A TIFF slide; ``mpp`` is used only where the file's metadata has none."""

    def __init__(self, path: Path, mpp: float | None = None) -> None:
        with _tifffile_records() as records:
            try:
                self._tif = tifffile.TiffFile(path)
            except Exception as exc:
                raise SlideReadError(
                    f"{path.name}: not a readable TIFF ({type(exc).__name__})"
                ) from exc
            self._lock = threading.RLock()
            try:
                self._pages = _level_pages(path, self._tif)
                _check_structure(path, self._tif, self._pages, records)
                self.info = _slide_info(path, self._tif, self._pages, mpp)
            except BaseException:
                self._tif.close()
                raise

    def close(self) -> None:
        self._tif.close()

    def read_region(self, x: int, y: int, width: int, height: int, level: int = 0) -> np.ndarray:
        if width < 1 or height < 1 or not 0 <= level < len(self._pages):
            raise SlideReadError(f"{self.info.path.name}: bad region {width}x{height} @ {level}")
        lv = self.info.levels[level]
        lx, ly = level_coordinate(x, lv.downsample), level_coordinate(y, lv.downsample)
        out = np.full((height, width, 3), 255, dtype=np.uint8)
        x0, y0 = max(lx, 0), max(ly, 0)
        x1, y1 = min(lx + width, lv.width), min(ly + height, lv.height)
        if x0 < x1 and y0 < y1:
            try:
                self._paste(self._pages[level], out, (lx, ly), (x0, y0, x1, y1))
            except SlideReadError:
                raise
            except Exception as exc:
                msg = f"{self.info.path.name}: corrupt image data at level {level}"
                raise SlideReadError(f"{msg} ({type(exc).__name__})") from exc
        return out

    def _paste(
        self,
        page: tifffile.TiffPage,
        out: np.ndarray,
        origin: tuple[int, int],
        box: tuple[int, int, int, int],
    ) -> None:
        """Decode the segments of ``page`` meeting ``box`` (level px) into ``out``."""
        seg_h, seg_w = page.chunks[0], page.chunks[1] if page.is_tiled else page.imagewidth
        indices = _segment_indices(page, seg_h, seg_w, box)
        offsets = [page.dataoffsets[i] for i in indices]
        counts = [page.databytecounts[i] for i in indices]
        kwargs: dict[str, object] = {"_fullsize": page.is_tiled}
        if page.compression in {6, 7, 34892, 33007}:
            kwargs.update(jpegtables=page.jpegtables, jpegheader=page.jpegheader)
        if seg_h * seg_w * page.samplesperpixel > MAX_SEGMENT_BYTES:
            raise SlideReadError(
                f"{self.info.path.name}: strips or tiles too large to decode one at a time; "
                "convert the slide to a tiled pyramidal TIFF"
            )
        fh = self._tif.filehandle
        for data, index in fh.read_segments(offsets, counts, indices, lock=self._lock):
            segment, (sample, _, sy, sx, _), _ = page.decode(data, index, **kwargs)
            if segment is not None:
                plane = sample if page.planarconfig == 2 else None
                _place(out, _rgb(page, segment[0]), origin, box, (sx, sy), plane)


def _segment_indices(
    page: tifffile.TiffPage, seg_h: int, seg_w: int, box: tuple[int, int, int, int]
) -> list[int]:
    x0, y0, x1, y1 = box
    across = math.ceil(page.imagewidth / seg_w)
    down = math.ceil(page.imagelength / seg_h)
    planes = page.samplesperpixel if page.planarconfig == 2 else 1
    rows = range(y0 // seg_h, (y1 - 1) // seg_h + 1)
    cols = range(x0 // seg_w, (x1 - 1) // seg_w + 1)
    return [s * across * down + r * across + c for s in range(planes) for r in rows for c in cols]


def _rgb(page: tifffile.TiffPage, segment: np.ndarray) -> np.ndarray:
    """A ``(rows, cols, samples)`` segment as uint8 RGB (grey repeated, alpha dropped)."""
    if page.planarconfig == 2 or segment.shape[-1] >= 3:
        return segment[..., :3]
    return np.repeat(segment[..., :1], 3, axis=-1)


def _place(
    out: np.ndarray,
    segment: np.ndarray,
    origin: tuple[int, int],
    box: tuple[int, int, int, int],
    corner: tuple[int, int],
    plane: int | None,
) -> None:
    """Copy the part of ``segment`` (corner at level px ``corner``) inside ``box`` to ``out``."""
    x0, y0, x1, y1 = box
    sx, sy = corner
    cx0, cy0 = max(x0, sx), max(y0, sy)
    cx1, cy1 = min(x1, sx + segment.shape[1]), min(y1, sy + segment.shape[0])
    if cx0 >= cx1 or cy0 >= cy1:
        return
    part = segment[cy0 - sy : cy1 - sy, cx0 - sx : cx1 - sx]
    target = out[cy0 - origin[1] : cy1 - origin[1], cx0 - origin[0] : cx1 - origin[0]]
    if plane is None:
        target[...] = part
    elif plane < 3:
        target[..., plane] = part[..., 0]


def _level_pages(path: Path, tif: tifffile.TiffFile) -> list[tifffile.TiffPage]:
    if not tif.series:
        raise SlideReadError(f"{path.name}: TIFF holds no image series")
    pages: list[tifffile.TiffPage] = []
    for level in tif.series[0].levels:
        page = level.keyframe
        if len(level.pages) != 1 or page.imagedepth != 1:
            raise SlideReadError(f"{path.name}: unsupported TIFF layout (several planes per level)")
        if page.dtype != np.uint8 or page.samplesperpixel not in (1, 3, 4):
            raise SlideReadError(f"{path.name}: unsupported TIFF pixels (need 8-bit grey/RGB)")
        pages.append(page)
    return pages


def _slide_info(
    path: Path, tif: tifffile.TiffFile, pages: list[tifffile.TiffPage], mpp: float | None
) -> SlideInfo:
    width, height = pages[0].imagewidth, pages[0].imagelength
    levels = tuple(
        LevelInfo(p.imagewidth, p.imagelength, (width / p.imagewidth + height / p.imagelength) / 2)
        for p in pages
    )
    found = tiff_mpp(tif)
    if found is None:
        if mpp is None:
            raise SlideReadError(
                f"{path.name}: no microns-per-pixel in the metadata; set the study's slide mpp"
            )
        found = mpp
    return SlideInfo(
        path=path,
        backend="tiff",
        vendor=tiff_vendor(tif),
        width=width,
        height=height,
        mpp=found,
        magnification=tiff_magnification(tif),
        levels=levels,
    )


@contextmanager
def _tifffile_records() -> Iterator[list[logging.LogRecord]]:
    """tifffile's log records from this thread while the block runs (kept off the
    terminal, passed on at DEBUG); records from other threads go on as usual."""
    records: list[logging.LogRecord] = []
    thread = threading.get_ident()

    class _Keep(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.thread != thread:
                return True
            records.append(record)
            log.debug("tifffile: %s", record.getMessage())
            return False

    keep = _Keep()
    logger = logging.getLogger("tifffile")
    logger.addFilter(keep)
    try:
        yield records
    finally:
        logger.removeFilter(keep)


def _check_structure(
    path: Path,
    tif: tifffile.TiffFile,
    pages: list[tifffile.TiffPage],
    records: list[logging.LogRecord],
) -> None:
    """Refuse a TIFF tifffile had to patch over, or whose image data ends past its end."""
    if any(r.levelno >= logging.ERROR for r in records):
        raise CorruptSlideError(f"{path.name}: corrupt or truncated TIFF (a tag could not be read)")
    size = tif.filehandle.size
    for level, page in enumerate(pages):
        offsets = np.asarray(page.dataoffsets, dtype=np.int64)
        counts = np.asarray(page.databytecounts, dtype=np.int64)
        outside = int(np.count_nonzero((counts > 0) & (offsets + counts > size)))
        if outside:
            raise CorruptSlideError(
                f"{path.name}: truncated TIFF: {outside} of {len(offsets)} tiles or strips "
                f"of level {level} end past the end of the file ({size} bytes)"
            )
