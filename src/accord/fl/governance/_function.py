"""The identity of the code a site runs: the SHA-256 of a canonical archive.

The archive is the sorted list of (path, SHA-256 of contents) of every source file that
executes on site data, plus the study's model and training sections. A data owner
approves this hash; any change to that code or those settings changes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import accord
from accord.core import StudySpec, canonical_json, floats_as_strings, sha256_hex

SITE_CODE = (
    "fl/tasks",
    "fl/_evaluation.py",
    "data/_preprocessing.py",
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


def function_archive(study: StudySpec) -> dict[str, Any]:
    """The canonical archive of a study's function: site code file hashes + settings."""
    return {
        "files": _files(Path(accord.__file__).parent),
        "model": floats_as_strings(study.model.model_dump(mode="json")),
        "training": floats_as_strings(study.training.model_dump(mode="json")),
    }


def archive_hash(archive: Mapping[str, Any]) -> str:
    """The function's identity: SHA-256 (hex) of its canonical archive."""
    return sha256_hex(canonical_json(archive))


def local_archive(archive: Mapping[str, Any]) -> dict[str, Any]:
    """The archive of what *this* machine would run with ``archive``'s settings.

    A site compares its hash with the approved function's: any difference in the code it
    has installed (or a tampered archive) changes the hash.
    """
    return {**archive, "files": _files(Path(accord.__file__).parent)}


def function_hash(study: StudySpec) -> str:
    """SHA-256 (hex) of the site-side code and the study's model and training settings."""
    return archive_hash(function_archive(study))


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, item in value.items():
            out |= _flatten(f"{prefix}.{key}" if prefix else str(key), item)
        return out
    return {prefix: json.dumps(value)}


def archive_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """Readable differences between two function archives (code files and settings)."""
    if old is None:
        return ["(no earlier approved function to compare with)"]
    before, after = _flatten("", old), _flatten("", new)
    lines = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if a is None:
            lines.append(f"+ {key} = {b}")
        elif b is None:
            lines.append(f"- {key} (was {a})")
        else:
            lines.append(f"~ {key}: {a} -> {b}")
    return lines or ["(identical settings and code)"]
