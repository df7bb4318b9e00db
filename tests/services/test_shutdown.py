"""SIGTERM (or Ctrl-C) stops ``accord site serve`` and ``accord hub serve`` cleanly: exit
code 0, one ``stopped`` line, no traceback, stores closed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from accord.core import load_study
from accord.data import load_cohort
from accord.services import HubService, RetentionPolicy, prepare_hub_process
from accord.services._retention import AreaLimit
from accord.studies import RunLedger
from tests.conftest import synthetic_cohort, write_study


def _study(folder: Path):  # type: ignore[no-untyped-def]
    synthetic_cohort(n_per_site=20, sites=2).to_csv(folder / "cohort.csv", index=False)
    return load_study(write_study(folder, strategy="fedavg", rounds=1, baselines="[]"))


def test_a_hub_service_prunes_until_its_stop_event_closes_it(tmp_path: Path) -> None:
    study = _study(tmp_path)
    audit = RunLedger.create(tmp_path / "out", study, load_cohort(study.cohort, tmp_path, 0))
    stop = threading.Event()
    service = HubService(audit, tmp_path / "hub", tls=None, stop=stop)
    stale = tmp_path / "hub" / "queue.sqlite.blobs" / ("0" * 64)  # no task names it
    stale.write_bytes(b"x")
    os.utime(stale, (time.time() - 3 * 86400,) * 2)
    service.start()
    service.start_pruning(RetentionPolicy(blobs=AreaLimit(max_age_days=1)), every_s=0.05)
    deadline = time.monotonic() + 30
    while stale.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stale.exists()
    stop.set()
    deadline = time.monotonic() + 30
    while not service._closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service._closed
    closers = [threading.Thread(target=service.close) for _ in range(3)]
    for thread in closers:
        thread.start()
    for thread in closers:
        thread.join(timeout=30)
    with pytest.raises(Exception, match="closed"):
        service.queue.pending("hospital_0")  # the queue's store is closed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "accord", *command],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _stop_when_logged(process: subprocess.Popen[bytes], log: Path, line: str) -> str:
    """Wait for ``line`` in the log, send SIGTERM, and return the whole log."""
    deadline = time.monotonic() + 240
    while line not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    return log.read_text(errors="replace")


def test_sigterm_stops_a_site_and_a_hub_process_cleanly(tmp_path: Path) -> None:
    study = _study(tmp_path)
    port = _free_port()
    hub_toml, sites = prepare_hub_process(study, tmp_path, tmp_path / "out", 0, port, 600.0)
    site = _serve(
        ["site", "serve", "--config", str(sites["hospital_0"]), "--poll-wait", "1"],
        tmp_path / "site.log",
    )
    hub = _serve(["hub", "serve", "--config", str(hub_toml)], tmp_path / "hub.log")
    try:
        site_log = _stop_when_logged(site, tmp_path / "site.log", "polling")
        assert site.returncode == 0, site_log
        assert "Traceback" not in site_log
        assert site_log.rstrip().splitlines()[-1].endswith("site hospital_0 stopped")

        hub_log = _stop_when_logged(hub, tmp_path / "hub.log", "hub serving")
        assert hub.returncode == 0, hub_log
        assert "Traceback" not in hub_log
        assert "hub service closed" in hub_log
        assert hub_log.rstrip().splitlines()[-1].endswith("hub stopped")
    finally:
        for process in (site, hub):
            if process.poll() is None:
                process.kill()


@pytest.mark.pg
def test_a_hub_on_postgres_serves_and_stops_cleanly(
    pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from accord.cli import app

    study = _study(tmp_path)
    hub_toml, _ = prepare_hub_process(study, tmp_path, tmp_path / "out", 0, _free_port(), 600.0)
    with hub_toml.open("a") as config:
        config.write(
            f'\n[store]\nurl = "{pg_dsn}"\nledger_schema = "{pg_schema}"\n'
            f'queue_schema = "{pg_schema}_q"\n'
        )
    copied = CliRunner().invoke(app, ["hub", "init-store", "--config", str(hub_toml)])
    assert copied.exit_code == 0, copied.output
    (tmp_path / "out" / "ledger.sqlite").rename(tmp_path / "out" / "moved.sqlite")
    hub = _serve(["hub", "serve", "--config", str(hub_toml)], tmp_path / "hub.log")
    try:
        hub_log = _stop_when_logged(hub, tmp_path / "hub.log", "hub serving")
    finally:
        if hub.poll() is None:
            hub.kill()
        import psycopg

        with psycopg.connect(pg_dsn, autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {pg_schema}_q CASCADE")
    assert hub.returncode == 0, hub_log
    assert "Traceback" not in hub_log and hub_log.rstrip().endswith("hub stopped")
    assert not (tmp_path / "out" / "ledger.sqlite").exists()  # the ledger is the database's
    assert not (tmp_path / "out" / "hub" / "queue.sqlite").exists()
