"""The identity of the code a site runs: the SHA-256 of a canonical archive.

The archive is the sorted list of (path, SHA-256 of contents) of every source file that
executes on site data, plus the study's model and training sections. A data owner
approves this hash; any change to that code or those settings changes it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import accord
from accord.core.config import StudySpec
from accord.core.hashing import canonical_json, floats_as_strings, sha256_hex

__all__ = ["SITE_CODE", "function_hash"]

SITE_CODE = (
    "fl/handlers.py",
    "fl/evaluation.py",
    "data/preprocessing.py",
    "models",
    "survival",
)


def _files(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in SITE_CODE:
        path = root / entry
        paths = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in paths:
            out[file.relative_to(root).as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out


def function_hash(study: StudySpec) -> str:
    """SHA-256 (hex) of the site-side code and the study's model and training settings."""
    root = Path(accord.__file__).parent
    archive = {
        "files": _files(root),
        "model": floats_as_strings(study.model.model_dump(mode="json")),
        "training": floats_as_strings(study.training.model_dump(mode="json")),
    }
    return sha256_hex(canonical_json(archive))
