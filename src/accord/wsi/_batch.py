"""Run a function over many slides; a slide that cannot be read is recorded, not fatal."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from accord.core import SlideReadError
from accord.wsi._open import open_slide
from accord.wsi._reader import SlideReader

__all__ = ["BatchReport", "for_each_slide"]

T = TypeVar("T")


@dataclass
class BatchReport:
    """Slides processed (in order) and those that failed, with the error message."""

    done: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)


def for_each_slide(
    paths: Iterable[Path],
    fn: Callable[[SlideReader], T],
    mpp: float | None = None,
) -> tuple[dict[Path, T], BatchReport]:
    """``fn(reader)`` for each slide, opened with :func:`open_slide` (``mpp`` as fallback).

    A :class:`SlideReadError` (at open or raised by a read inside ``fn``) records the slide
    in ``report.failed`` and the batch continues; any other exception propagates.
    """
    results: dict[Path, T] = {}
    report = BatchReport()
    for path in paths:
        try:
            with open_slide(Path(path), mpp) as reader:
                results[Path(path)] = fn(reader)
        except SlideReadError as exc:
            report.failed[Path(path)] = str(exc)
        else:
            report.done.append(Path(path))
    return results, report
