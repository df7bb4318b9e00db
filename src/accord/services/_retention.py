"""Retention: how long the hub keeps blobs and plan checkpoints, and a site its spool.

The ``[retention]`` table of ``hub.toml`` (areas ``blobs``, ``checkpoints``) or of
``site.toml`` (area ``spool``) gives each area an age limit, a size limit, or both::

    [retention.blobs]          # the task queue's payload files (*.blobs/ in the hub's folder)
    max_age_days = 30
    max_bytes = 200_000_000_000
    [retention.checkpoints]    # checkpoints/: the global state after each round, per plan
    max_age_days = 180

Without the table nothing is removed. :func:`apply_retention` removes, in each area, what
is older than ``max_age_days``, then the oldest first until the area holds at most
``max_bytes``, and never what is still needed:

* a blob a round still open needs (a task of it neither answered nor expired): the
  payload sent to the sites and the replies received (:meth:`QueueStore.blobs_in_use`);
* the checkpoint of a plan that has no ``model.registered`` entry on the ledger yet;
* a spooled reply (``spool/*.reply``): the hub has not acknowledged it (the site removes
  it when the hub has it). Only the spool's payload cache (``spool/payloads/``) is pruned;
* anything modified in the last :data:`GRACE_S` seconds (a blob committed by a site
  whose reply has not arrived yet, a payload a site task is reading).

A size limit the files in use alone exceed is reported, not enforced.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.core import ConfigError, check_keys, load_json_file
from accord.services._service_config import table

__all__ = [
    "GRACE_S",
    "HUB_AREAS",
    "NO_RETENTION",
    "SITE_AREAS",
    "AreaLimit",
    "InUse",
    "PruneReport",
    "Removal",
    "RetentionPolicy",
    "apply_retention",
    "read_retention",
]

GRACE_S = 3600.0  # nothing modified this recently is removed, whatever the limits
HUB_AREAS = ("blobs", "checkpoints")
SITE_AREAS = ("spool",)
_DAY_S = 86400.0
_CHECKPOINT_SUFFIXES = (".plan.json", ".state.json", ".state.safetensors")


@dataclass(frozen=True)
class AreaLimit:
    """One area's limits; None: no limit of that kind."""

    max_age_days: float | None = None
    max_bytes: int | None = None


@dataclass(frozen=True)
class RetentionPolicy:
    """The limits of each area (None: keep everything there)."""

    blobs: AreaLimit | None = None
    checkpoints: AreaLimit | None = None
    spool: AreaLimit | None = None

    def areas(self) -> Iterator[tuple[str, AreaLimit]]:
        for name in (*HUB_AREAS, *SITE_AREAS):
            limit = getattr(self, name)
            if limit is not None:
                yield name, limit


NO_RETENTION = RetentionPolicy()


@dataclass(frozen=True)
class InUse:
    """What the hub still needs: blob digests of open rounds, and the plans that finished
    (a checkpoint of any other plan is kept)."""

    blobs: frozenset[str] = frozenset()
    finished_plans: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Removal:
    area: str
    path: str  # relative to the state folder
    size: int  # bytes
    age_days: float


@dataclass
class PruneReport:
    """What :func:`apply_retention` removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    removed: list[Removal] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)  # area -> items still needed
    over: dict[str, int] = field(default_factory=dict)  # area -> bytes over max_bytes left
    skipped: list[str] = field(default_factory=list)  # areas not looked at, and why

    @property
    def removed_bytes(self) -> int:
        return sum(r.size for r in self.removed)

    def lines(self) -> list[str]:
        """Human-readable lines: one summary per area, then one per removed item."""
        verb = "would remove" if self.dry_run else "removed"
        out: list[str] = []
        areas = sorted({r.area for r in self.removed} | set(self.kept) | set(self.over))
        for area in areas:
            gone = [r for r in self.removed if r.area == area]
            line = f"{area}: {verb} {len(gone)} ({sum(r.size for r in gone)} bytes)"
            line += f", kept {self.kept.get(area, 0)} still needed"
            if self.over.get(area):
                line += f"; still {self.over[area]} bytes over max_bytes (all needed)"
            out.append(line)
        out += [f"  {r.path} ({r.size} bytes, {r.age_days:.1f} days old)" for r in self.removed]
        out += [f"{reason}" for reason in self.skipped]
        if not out:
            out.append(f"nothing to prune ({verb} 0 files)")
        return out


def read_retention(data: dict[str, Any], path: Path, areas: tuple[str, ...]) -> RetentionPolicy:
    """The ``[retention]`` table (absent: :data:`NO_RETENTION`) with sub-tables ``areas``;
    unknown keys and values that are not positive numbers are errors naming the field."""
    given = table(data, "retention", path, {})
    check_keys(given, areas, path, "retention")
    limits: dict[str, AreaLimit] = {}
    for area in given:
        sub, prefix = given[area], f"retention.{area}"
        if not isinstance(sub, dict):
            raise ConfigError(f"{path}: field '{prefix}': expected a table")
        check_keys(sub, ("max_age_days", "max_bytes"), path, prefix)
        age, size = sub.get("max_age_days"), sub.get("max_bytes")
        if age is not None and (not _number(age) or age <= 0):
            raise ConfigError(f"{path}: field '{prefix}.max_age_days': expected days > 0")
        if size is not None and (not _number(size) or not isinstance(size, int) or size <= 0):
            raise ConfigError(f"{path}: field '{prefix}.max_bytes': expected a whole number > 0")
        if age is None and size is None:
            raise ConfigError(f"{path}: field '{prefix}': expected max_age_days, max_bytes or both")
        limits[area] = AreaLimit(float(age) if age is not None else None, size)
    return RetentionPolicy(**limits)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Item:
    """One removable unit: a file, or a checkpoint's files together."""

    paths: tuple[Path, ...]
    size: int
    mtime: float
    needed: bool


def apply_retention(
    policy: RetentionPolicy,
    folder: Path,
    *,
    dry_run: bool = False,
    in_use: InUse | None = None,
    now: float | None = None,
) -> PruneReport:
    """Apply ``policy`` to the state ``folder`` (the hub's or the site's config folder).

    ``in_use`` is what the hub still needs (see :func:`accord.services._prune.hub_in_use`);
    without it the hub's areas (blobs, checkpoints) are left alone. ``now`` is seconds
    since the epoch (default: the clock). With ``dry_run`` nothing is removed.
    """
    clock = time.time() if now is None else now
    report = PruneReport(dry_run=dry_run)
    for area, limit in policy.areas():
        if area in HUB_AREAS and in_use is None:
            report.skipped.append(f"{area}: skipped (what the hub still needs is not known)")
            continue
        items = list(_items(area, folder, in_use or InUse()))
        _prune_area(area, limit, items, folder, clock, report)
    return report


def _prune_area(
    area: str,
    limit: AreaLimit,
    items: list[_Item],
    folder: Path,
    now: float,
    report: PruneReport,
) -> None:
    items.sort(key=lambda i: i.mtime)  # oldest first
    removable = [i for i in items if not i.needed and now - i.mtime >= GRACE_S]
    doomed: list[_Item] = []
    if limit.max_age_days is not None:
        cutoff = now - limit.max_age_days * _DAY_S
        doomed = [i for i in removable if i.mtime < cutoff]
    total = sum(i.size for i in items) - sum(i.size for i in doomed)
    if limit.max_bytes is not None:
        for item in removable[len(doomed) :]:  # the aged ones are the oldest removable
            if total <= limit.max_bytes:
                break
            doomed.append(item)
            total -= item.size
        if total > limit.max_bytes:
            report.over[area] = total - limit.max_bytes
    report.kept[area] = sum(1 for i in items if i.needed)
    for item in doomed:
        for path in item.paths if not report.dry_run else ():
            path.unlink(missing_ok=True)
        shown = item.paths[0].relative_to(folder).as_posix()
        if len(item.paths) > 1:
            shown = shown.rsplit(".", 2)[0] + ".*"  # a checkpoint's files together
        report.removed.append(Removal(area, shown, item.size, (now - item.mtime) / _DAY_S))


def _items(area: str, folder: Path, in_use: InUse) -> Iterable[_Item]:
    if area == "blobs":
        for blobs in sorted(folder.glob("*.blobs")):
            for path in _files(blobs):
                yield _item((path,), needed=path.name in in_use.blobs)
    elif area == "checkpoints":
        yield from _checkpoints(folder / "checkpoints", in_use.finished_plans)
    elif area == "spool":
        for path in _files(folder / "spool" / "payloads"):
            yield _item((path,), needed=False)


def _files(folder: Path) -> list[Path]:
    """The plain files directly in ``folder`` (not hidden ones: those are being written)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]


def _item(paths: tuple[Path, ...], *, needed: bool) -> _Item:
    stats = [p.stat() for p in paths]
    return _Item(paths, sum(s.st_size for s in stats), max(s.st_mtime for s in stats), needed)


def _checkpoints(folder: Path, finished: frozenset[str]) -> Iterator[_Item]:
    """One item per checkpoint (its plan, state and arrays files); needed unless its plan
    has finished. A state without a plan file is not resumable, so not needed."""
    groups: dict[str, list[Path]] = {}
    for path in _files(folder):
        for suffix in _CHECKPOINT_SUFFIXES:
            if path.name.endswith(suffix):
                groups.setdefault(path.name.removesuffix(suffix), []).append(path)
    for stem, paths in sorted(groups.items()):
        plan_file = folder / f"{stem}.plan.json"
        yield _item(tuple(sorted(paths)), needed=_plan_of(plan_file) not in finished | {None})


def _plan_of(path: Path) -> str | None:
    """The plan id a checkpoint's plan file names (None: no plan file, unreadable)."""
    if not path.is_file():
        return None
    try:
        doc = load_json_file(path, ConfigError, "a plan checkpoint")
    except ConfigError:
        return ""  # unreadable: kept (it is not known to belong to a finished plan)
    plan = doc.get("plan_id") if isinstance(doc, dict) else None
    return str(plan) if plan else ""
