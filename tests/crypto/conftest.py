"""Crypto fixtures: a clean passphrase environment and one saved identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.crypto import PASSPHRASE_ENV, Identity, new_identity, save_identity


@pytest.fixture(autouse=True)
def _no_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


@pytest.fixture
def identity() -> Identity:
    return new_identity("hospital-a")


@pytest.fixture
def saved(identity: Identity, tmp_path: Path) -> tuple[Path, Path]:
    return save_identity(identity, tmp_path / "keys")
