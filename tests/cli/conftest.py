"""CLI fixtures: no key passphrase from the environment, so key files are read as written."""

from __future__ import annotations

import pytest

from accord.crypto import PASSPHRASE_ENV


@pytest.fixture(autouse=True)
def _no_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
