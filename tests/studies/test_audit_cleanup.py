"""A run ledger that fails while being assembled leaves no site replica open."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.core import LedgerError, load_study
from accord.data import load_cohort
from accord.ledger import SQLiteLedgerStore
from accord.studies import RunLedger
from tests.conftest import synthetic_cohort, write_study


def test_a_failed_first_checkpoint_closes_every_replica_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthetic_cohort().to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy="fedavg", rounds=1, baselines="[]"))
    cohort = load_cohort(study.cohort, tmp_path, 0)
    closed: list[Path] = []
    close = SQLiteLedgerStore.close

    def recording_close(self: SQLiteLedgerStore) -> None:
        closed.append(Path(self.path))
        close(self)

    def failing_checkpoint(self: RunLedger) -> None:
        raise LedgerError("co-signing failed")

    monkeypatch.setattr(SQLiteLedgerStore, "close", recording_close)
    monkeypatch.setattr(RunLedger, "checkpoint_and_cosign", failing_checkpoint)
    with pytest.raises(LedgerError, match="co-signing failed"):
        RunLedger.create(tmp_path / "out", study, cohort)
    replicas = sorted((tmp_path / "out" / "sites").glob("*/ledger.sqlite"))
    assert len(replicas) == 3
    assert set(replicas) <= {p.resolve() for p in closed}
