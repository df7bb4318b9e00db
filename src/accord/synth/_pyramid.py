"""Streaming writer of a tiled pyramidal OME-TIFF, one row of tiles in memory at a time.

Layout: level 0 is the first (and only top-level) IFD; each further level halves the
previous one (2 x 2 mean) and is stored as a SubIFD of level 0 (NewSubfileType = reduced
image). Level 0 carries XResolution/YResolution in pixels per centimetre
(ResolutionUnit = CENTIMETER) and OME-XML with PhysicalSizeX/Y in µm. This is the layout
tifffile writes for OME pyramids and that tifffile, Bio-Formats and QuPath read as one
multi-resolution image. OpenSlide opens it as a "generic tiled TIFF" but sees level 0 only
(it ignores SubIFDs).

While level 0 streams out, each row of level-0 tiles is reduced into the next levels,
whose rows go to unnamed temporary files beside the slide (not to /tmp, which may be
memory-backed); each level is then streamed from its file. Memory stays at a few rows of
tiles whatever the slide size.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import tifffile
from numpy.typing import NDArray

__all__ = ["level_shapes", "write_pyramid"]

Strip = NDArray[np.uint8]
_BUFFER_BYTES = 1 << 22


def level_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """(height, width) of each level; each level halves the previous one, rounding up."""
    shapes = [(height, width)]
    for _ in range(levels - 1):
        h, w = shapes[-1]
        shapes.append((-(-h // 2), -(-w // 2)))
    return shapes


def write_pyramid(
    path: Path,
    strips: Iterable[Strip],
    *,
    height: int,
    width: int,
    tile: int,
    levels: int,
    mpp: float,
    compression: str | None,
    uuid: str,
) -> None:
    """Write rows of level-0 tiles (``tile`` x ``width`` x 3 uint8, top to bottom) as a pyramid.

    ``uuid`` names the image in the OME-XML; a fixed one keeps the file byte-for-byte
    reproducible.
    """
    shapes = level_shapes(height, width, levels)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".pyramid-") as tmp:
        spools = [_Spool(Path(tmp) / f"level{k}.raw", shape, k) for k, shape in enumerate(shapes)]
        bigtiff = height * width * 3 * 4 // 3 > 2**31
        ppcm = 1e4 / mpp
        options: dict[str, Any] = {
            "tile": (tile, tile),
            "photometric": "rgb",
            "compression": None if compression in (None, "none") else compression,
            "resolution": (ppcm, ppcm),
            "resolutionunit": "CENTIMETER",
            "buffersize": _BUFFER_BYTES,
        }
        if options["compression"] == "jpeg":
            options["compressionargs"] = {"level": 90}
        with tifffile.TiffWriter(path, bigtiff=bigtiff, ome=True) as tif:
            tif.write(
                _level0_tiles(strips, spools, tile),
                shape=(height, width, 3),
                dtype=np.uint8,
                subifds=levels - 1,
                metadata={
                    "UUID": uuid,
                    "axes": "YXS",
                    "PhysicalSizeX": mpp,
                    "PhysicalSizeXUnit": "µm",
                    "PhysicalSizeY": mpp,
                    "PhysicalSizeYUnit": "µm",
                },
                **options,
            )
            _flush(spools)
            for k in range(1, levels):
                tif.write(
                    spools[k].tiles(tile),
                    shape=(*shapes[k], 3),
                    dtype=np.uint8,
                    subfiletype=1,
                    metadata=None,
                    **options,
                )
                spools[k].close()


def _level0_tiles(strips: Iterable[Strip], spools: list[_Spool], tile: int) -> Iterator[Strip]:
    for strip in strips:
        if len(spools) > 1:
            spools[1].push(_halve(strip), spools)
        for x in range(0, strip.shape[1], tile):
            yield strip[:, x : x + tile]


def _flush(spools: list[_Spool]) -> None:
    for k in range(1, len(spools)):
        spools[k].finish(spools)


def _halve(rows: Strip) -> Strip:
    """2 x 2 mean of an (h, w, 3) block, h even (or the final odd row), rounding w up."""
    if rows.shape[0] % 2:
        rows = np.concatenate([rows, rows[-1:]], axis=0)
    if rows.shape[1] % 2:
        rows = np.concatenate([rows, rows[:, -1:]], axis=1)
    acc = rows[0::2, 0::2].astype(np.uint16)
    acc += rows[1::2, 0::2]
    acc += rows[0::2, 1::2]
    acc += rows[1::2, 1::2]
    acc += 2
    acc >>= 2
    return acc.astype(np.uint8)


class _Spool:
    """Rows of one reduced level: appended to a raw file, halved into the next level."""

    def __init__(self, path: Path, shape: tuple[int, int], level: int) -> None:
        self.path, self.shape, self.level = path, shape, level
        self.pending: Strip | None = None
        self.file: IO[bytes] | None = None

    def push(self, rows: Strip, spools: list[_Spool]) -> None:
        if self.file is None:
            self.file = open(self.path, "wb")  # noqa: SIM115 - closed in finish()
        self.file.write(np.ascontiguousarray(rows).tobytes())
        if self.level + 1 >= len(spools):
            return
        rows = rows if self.pending is None else np.concatenate([self.pending, rows], axis=0)
        even = rows.shape[0] - rows.shape[0] % 2
        self.pending = rows[even:] if even < rows.shape[0] else None
        if even:
            spools[self.level + 1].push(_halve(rows[:even]), spools)

    def finish(self, spools: list[_Spool]) -> None:
        if self.pending is not None and self.level + 1 < len(spools):
            spools[self.level + 1].push(_halve(self.pending), spools)
            self.pending = None
        if self.file is not None:
            self.file.close()
            self.file = None

    def tiles(self, tile: int) -> Iterator[Strip]:
        h, w = self.shape
        with open(self.path, "rb") as f:
            for y in range(0, h, tile):
                n = min(tile, h - y)
                strip = np.frombuffer(f.read(n * w * 3), dtype=np.uint8).reshape(n, w, 3)
                for x in range(0, w, tile):
                    yield strip[:, x : x + tile]

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
