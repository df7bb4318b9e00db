"""Identifiers for plans and tasks."""

from __future__ import annotations

import uuid

__all__ = ["new_id"]


def new_id(prefix: str) -> str:
    """A fresh random id such as ``task-3f2a...`` (uuid4, 32 hex digits)."""
    return f"{prefix}-{uuid.uuid4().hex}"
