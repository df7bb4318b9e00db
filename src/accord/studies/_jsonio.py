"""Writing JSON files so that a reader never sees a half-written one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from accord.core import write_bytes_atomic

__all__ = ["write_bytes_atomic", "write_json_atomic"]


def write_json_atomic(path: Path, document: Any) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))
