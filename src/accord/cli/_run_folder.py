"""A run's output folder: refuse to overwrite, ``--force`` to start over, ``--resume`` to carry
on, and the ``INTERRUPTED`` marker of a run stopped by a signal.

A run writes only the names in :data:`RUN_OUTPUTS` into ``OUT``; ``--force`` removes those
and nothing else (``OUT/data`` of ``accord demo``, or any file of the user's, stays).
``OUT/checkpoints/`` holds each trained method's last completed round and every simulated
organisation's key, which is what ``--resume`` needs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from accord.core import ConfigError
from accord.studies import write_json_atomic

__all__ = ["INTERRUPTED", "RUN_OUTPUTS", "mark_interrupted", "prepare_run_folder"]

INTERRUPTED = "INTERRUPTED"
RUN_OUTPUTS = (
    "ledger.sqlite",
    "ledger.sqlite-wal",
    "ledger.sqlite-shm",
    "ledger.sqlite-journal",
    "anchor.json",
    "keys",
    "sites",
    "checkpoints",
    "features",
    "exported",
    "figures",
    "models",
    "archive",
    "hub",  # --processes: the hub service's folder, the loopback PKI, the sites' study
    "pki",
    "study.json",
    "results.json",
    "report.html",
    INTERRUPTED,
)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def prepare_run_folder(out: Path, *, resume: bool, force: bool, keep: Iterable[Path] = ()) -> bool:
    """Check ``out`` before a run; True when the run carries on an earlier one (``resume``).

    A folder holding anything but ``keep`` (the demo's generated data) is refused unless
    ``force`` (the run's own files are removed) or ``resume`` (there must be a run to carry
    on). Raises :class:`~accord.core.ConfigError` naming the folder and both options.
    """
    if resume and force:
        raise ConfigError("--resume and --force: choose one")
    kept = {p.resolve() for p in keep}
    present = sorted(p for p in out.iterdir() if p.resolve() not in kept) if out.is_dir() else []
    if not present:
        return False
    if force:
        for name in RUN_OUTPUTS:
            _remove(out / name)
        return False
    if not resume:
        raise ConfigError(
            f"{out}: the run folder is not empty; add --resume to carry on the run in it, "
            "or --force to remove what it wrote and start over"
        )
    if not (out / "checkpoints" / "keys").is_dir() or not (out / "ledger.sqlite").is_file():
        raise ConfigError(
            f"{out}: no run to resume here (no checkpoints/keys or ledger.sqlite); "
            "use --force to start over"
        )
    if (out / "results.json").is_file() and not (out / INTERRUPTED).is_file():
        raise ConfigError(f"{out}: the run here is complete; use --force to start over")
    return True


def mark_interrupted(out: Path, signal_name: str) -> None:
    """Write ``OUT/INTERRUPTED`` (atomically): which signal stopped the run, and when."""
    when = datetime.now(UTC).isoformat(timespec="seconds")
    write_json_atomic(
        out / INTERRUPTED,
        {"signal": signal_name, "at": when, "resume": "accord run ... --resume"},
    )
