"""Capture every byte sites send during whole runs and prove no patient value is in it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accord.core import load_study
from accord.net import Reply
from accord.studies import Simulation
from tests.conftest import synthetic_cohort, write_study


def _numbers(reply: Reply) -> np.ndarray:
    values: list[float] = []
    for array in reply.arrays.values():
        values.extend(np.asarray(array, dtype=np.float64).ravel().tolist())
    values.extend(float(v) for v in reply.metrics.values() if v is not None)
    values.extend(float(v) for v in reply.counts.values())
    return np.array(values)


@pytest.mark.parametrize("strategy", ["newton_raphson", "fedavg", "scaffold"])
def test_no_patient_value_or_id_leaves_a_site(tmp_path: Path, strategy: str) -> None:
    frame = synthetic_cohort()
    frame.to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy, rounds=3))
    wire: list[tuple[str, bytes]] = []
    sim = Simulation.prepare(study, tmp_path, seed=0, observer=lambda s, b: wire.append((s, b)))
    sim.run.federated()
    assert len(wire) > 10

    sent = b"".join(b for _, b in wire)
    for pid in frame["pid"]:
        assert pid.encode() not in sent

    for site, payload in wire:
        reply = Reply.from_wire(payload)
        rows = frame[frame["site"] == site]
        numbers = _numbers(reply)
        for column in ("time_days", "age", "marker"):
            patient_values = rows[column].to_numpy(dtype=np.float64)
            hits = np.isclose(numbers[:, None], patient_values[None, :], rtol=1e-12, atol=0)
            assert not hits.any(), f"{site} sent a value of column {column} ({reply.kind})"
        for name, array in reply.arrays.items():
            assert len(rows) not in array.shape, f"{site}: '{name}' has one entry per patient"
        text = json.dumps(reply.metrics)
        assert "PATIENT" not in text


def test_the_detector_catches_a_leaked_value() -> None:
    frame = synthetic_cohort()
    leaked = frame["time_days"].to_numpy()[:3]
    reply = Reply.build(task_id="t", site="s", kind="evaluate", arrays={"x": leaked})
    numbers = _numbers(Reply.from_wire(reply.to_wire()))
    assert np.isclose(numbers[:, None], leaked[None, :], rtol=1e-12, atol=0).any()


def _payload_numbers(obj: object) -> list[float]:
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _payload_numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _payload_numbers(v)]
    if isinstance(obj, bool) or obj is None:
        return []
    if isinstance(obj, int):
        return [float(obj)]
    if isinstance(obj, str):
        try:
            return [float(obj)]
        except ValueError:
            return []
    return []


def test_no_ledger_payload_holds_a_patient_value(tmp_path: Path) -> None:
    from accord.ledger import Entry, SQLiteLedgerStore

    frame = synthetic_cohort()
    frame.to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, "fedavg", rounds=2))
    sim = Simulation.prepare(study, tmp_path, seed=0, ledger_dir=tmp_path / "out")
    sim.run.federated()
    sim.references.pooled()
    assert sim.run.audit is not None
    sim.run.audit.close()
    patient_values = np.concatenate(
        [frame[c].to_numpy(dtype=np.float64) for c in ("time_days", "age", "marker")]
    )
    with SQLiteLedgerStore(tmp_path / "out" / "ledger.sqlite", create=False) as store:
        assert store.size() > 50
        for stored in store.read():
            assert b"PATIENT" not in stored.entry
            entry = Entry.parse(stored.entry)
            numbers = np.array(_payload_numbers(dict(entry.payload)))
            if numbers.size:
                hits = np.isclose(numbers[:, None], patient_values[None, :], rtol=1e-9, atol=0)
                assert not hits.any(), f"entry {entry.seq} ({entry.kind}) holds a patient value"
