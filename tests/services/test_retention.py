"""Retention: ``[retention]`` tables, and pruning that never removes what is still needed
(a blob of an open round, the checkpoint of a running plan, a spooled reply)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.core import ConfigError
from accord.crypto import new_identity
from accord.ledger import HubLedger, SQLiteLedgerStore, genesis_payload
from accord.net import Reply, Task, TaskQueue
from accord.services import (
    RetentionPolicy,
    apply_retention,
    prune_hub_state,
    read_hub_config,
    read_service_config,
)
from accord.services._retention import GRACE_S, AreaLimit, InUse
from accord.services._store_config import SQLITE_STORE

DAY = 86400.0
NOW = 1_900_000_000.0
HUB_TOML = (
    '[hub]\nlisten = "127.0.0.1:8443"\nrun = "run"\nstudy = "hcc-resection-survival"\n'
    "[tls]\ninsecure = true\n"
)
SITE_TOML = (
    '[site]\norg = "hospital_0"\ndataset = "hospital_0.cohort"\nhub = "http://127.0.0.1:1"\n'
    'study = "hcc-resection-survival"\n[tls]\ninsecure = true\n'
)


def _file(path: Path, size: int, age_days: float, now: float = NOW) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


# --- the tables ------------------------------------------------------------------------------


def test_retention_tables_set_each_areas_limits(tmp_path: Path) -> None:
    hub = tmp_path / "hub.toml"
    hub.write_text(
        HUB_TOML + "[retention.blobs]\nmax_age_days = 30\nmax_bytes = 1000\n"
        "[retention.checkpoints]\nmax_age_days = 0.5\n"
    )
    assert read_hub_config(hub).retention == RetentionPolicy(
        blobs=AreaLimit(30.0, 1000), checkpoints=AreaLimit(0.5, None)
    )
    site = tmp_path / "site.toml"
    site.write_text(SITE_TOML + "[retention.spool]\nmax_bytes = 5\n")
    assert read_service_config(site).retention == RetentionPolicy(spool=AreaLimit(None, 5))
    (tmp_path / "bare.toml").write_text(HUB_TOML)
    assert read_hub_config(tmp_path / "bare.toml").retention == RetentionPolicy()


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("[retention.blob]\nmax_bytes = 1", "retention.blob", "did you mean 'blobs'"),
        ("[retention.spool]\nmax_bytes = 1", "retention.spool", "unknown key"),
        ("[retention.blobs]\nmax_days = 1", "retention.blobs.max_days", "did you mean"),
        ("[retention.blobs]\nmax_age_days = 0", "retention.blobs.max_age_days", "days > 0"),
        ("[retention.blobs]\nmax_age_days = true", "retention.blobs.max_age_days", "days > 0"),
        ("[retention.blobs]\nmax_bytes = 1.5", "retention.blobs.max_bytes", "whole number > 0"),
        ('[retention.blobs]\nmax_bytes = "1G"', "retention.blobs.max_bytes", "whole number"),
        ("[retention.blobs]", "retention.blobs", "max_age_days, max_bytes or both"),
        ("[retention]\nblobs = 3", "retention.blobs", "expected a table"),
    ],
)
def test_a_bad_retention_table_names_the_file_and_field(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(HUB_TOML + text + "\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: field '{field}'") as e:
        read_hub_config(path)
    assert message in str(e.value)


def test_a_site_has_no_hub_areas(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE_TOML + "[retention.blobs]\nmax_bytes = 1\n")
    with pytest.raises(ConfigError, match=r"field 'retention\.blobs': unknown key"):
        read_service_config(path)


# --- pruning ---------------------------------------------------------------------------------


def test_age_then_size_remove_the_oldest_first_and_a_dry_run_removes_nothing(
    tmp_path: Path,
) -> None:
    payloads = tmp_path / "spool" / "payloads"
    old = _file(payloads / "a", 100, 40)
    middle = _file(payloads / "b", 100, 20)
    young = _file(payloads / "c", 100, 10)
    fresh = _file(payloads / "d", 500, GRACE_S / DAY / 2)  # within the grace period
    reply = _file(tmp_path / "spool" / "t1.abc.reply", 1000, 400)  # not acknowledged yet
    policy = RetentionPolicy(spool=AreaLimit(max_age_days=30, max_bytes=650))
    dry = apply_retention(policy, tmp_path, dry_run=True, now=NOW)
    assert [r.path for r in dry.removed] == ["spool/payloads/a", "spool/payloads/b"]
    assert all(p.exists() for p in (old, middle, young, fresh, reply))
    assert dry.lines()[0] == "spool: would remove 2 (200 bytes), kept 0 still needed"
    done = apply_retention(policy, tmp_path, now=NOW)
    assert done.removed == dry.removed and done.lines()[0].startswith("spool: removed 2")
    assert not old.exists() and not middle.exists()
    assert young.exists() and fresh.exists() and reply.exists()
    again = apply_retention(RetentionPolicy(spool=AreaLimit(max_bytes=1)), tmp_path, now=NOW)
    assert [r.path for r in again.removed] == ["spool/payloads/c"]
    assert again.over == {"spool": 499}  # what is left is in its grace period


def test_the_hubs_areas_are_left_alone_when_what_is_in_use_is_unknown(tmp_path: Path) -> None:
    blob = _file(tmp_path / "queue.sqlite.blobs" / ("0" * 64), 10, 100)
    report = apply_retention(RetentionPolicy(blobs=AreaLimit(1, None)), tmp_path, now=NOW)
    assert blob.exists() and report.removed == [] and "skipped" in report.lines()[0]


def test_blobs_in_use_and_checkpoints_of_running_plans_are_kept(tmp_path: Path) -> None:
    blobs = tmp_path / "queue.sqlite.blobs"
    needed = _file(blobs / ("a" * 64), 10, 100)
    unused = _file(blobs / ("b" * 64), 10, 100)
    staged = _file(blobs / "staging" / "site" / ("c" * 64 + ".part"), 10, 100)
    points = tmp_path / "checkpoints"
    for label, plan in (("fedavg", "plan-done"), ("fedprox", "plan-running")):
        _file(points / f"{label}.state.json", 5, 100)
        _file(points / f"{label}.state.safetensors", 50, 100)
        (points / f"{label}.plan.json").write_text(json.dumps({"plan_id": plan}))
        os.utime(points / f"{label}.plan.json", (NOW - 100 * DAY,) * 2)
    policy = RetentionPolicy(blobs=AreaLimit(30, None), checkpoints=AreaLimit(30, None))
    in_use = InUse(blobs=frozenset({"a" * 64}), finished_plans=frozenset({"plan-done"}))
    report = apply_retention(policy, tmp_path, in_use=in_use, now=NOW)
    assert [r.path for r in report.removed] == [
        f"queue.sqlite.blobs/{'b' * 64}",
        "checkpoints/fedavg.*",
    ]
    assert report.removed[1].size > 55
    assert needed.exists() and not unused.exists() and staged.exists()
    assert sorted(p.name for p in points.iterdir()) == [
        "fedprox.plan.json",
        "fedprox.state.json",
        "fedprox.state.safetensors",
    ]
    assert report.kept == {"blobs": 1, "checkpoints": 1}


def _hub_folder(tmp_path: Path, retention: str) -> tuple[Path, TaskQueue]:
    """hub.toml, a run ledger where plan 'p-done' registered its model, and a queue with a
    closed round (plan p-done) and an open one (plan p-open), each with a large task."""
    config = tmp_path / "hub.toml"
    config.write_text(HUB_TOML + retention)
    hub = new_identity("hub")
    (tmp_path / "run").mkdir()
    ledger = HubLedger.create(
        SQLiteLedgerStore(tmp_path / "run" / "ledger.sqlite"),
        hub,
        "log-1",
        genesis_payload("s", "hub", [hub.public.to_dict()]),
    )
    ledger.record(hub, "model.registered", {"plan": "p-done", "model": "0" * 64})
    ledger.store.close()
    queue = TaskQueue(tmp_path / "queue.sqlite")
    for plan, value in (("p-done", 1.0), ("p-open", 2.0)):
        arrays = {"w": np.full(3_000_000, value, dtype=np.float32)}
        task = Task.build(
            task_id=plan, plan_id=plan, round=1, site="a", kind="stats", arrays=arrays
        )
        queue.post(task)
    queue.put_reply("a", Reply.build(task_id="p-done", site="a", kind="stats").to_wire())
    for label, plan in (("done", "p-done"), ("open", "p-open")):
        _file(tmp_path / "checkpoints" / f"{label}.state.json", 5, 0, time.time() - 10 * DAY)
        (tmp_path / "checkpoints" / f"{label}.plan.json").write_text(json.dumps({"plan_id": plan}))
    old = time.time() - 10 * DAY
    for path in [
        *(tmp_path / "queue.sqlite.blobs").iterdir(),
        *(tmp_path / "checkpoints").iterdir(),
    ]:
        os.utime(path, (old, old))
    return config, queue


def test_prune_hub_state_asks_the_queue_and_the_ledger(tmp_path: Path) -> None:
    policy = "[retention.blobs]\nmax_age_days = 1\n[retention.checkpoints]\nmax_age_days = 1\n"
    config, queue = _hub_folder(tmp_path, policy)
    try:
        hub = read_hub_config(config)
        report = prune_hub_state(hub.retention, hub.folder, SQLITE_STORE, hub.run / "ledger.sqlite")
        assert [r.area for r in report.removed] == ["blobs", "checkpoints"]
        assert report.removed[1].path == "checkpoints/done.*"
        assert report.kept == {"blobs": 1, "checkpoints": 1}
        assert queue.lease("a", 0.5) is not None  # the open round's payload is still there
    finally:
        queue.close()


def test_the_prune_commands_print_what_they_remove(tmp_path: Path) -> None:
    policy = "[retention.blobs]\nmax_age_days = 1\n"
    config, queue = _hub_folder(tmp_path, policy)
    queue.close()
    blobs = sorted((tmp_path / "queue.sqlite.blobs").glob("?" * 64))
    runner = CliRunner()
    dry = runner.invoke(app, ["hub", "prune", "--config", str(config), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("blobs: would remove 1 (")
    assert "  queue.sqlite.blobs/" in dry.output
    assert sorted((tmp_path / "queue.sqlite.blobs").glob("?" * 64)) == blobs
    done = runner.invoke(app, ["hub", "prune", "--config", str(config)])
    assert done.exit_code == 0 and done.output.startswith("blobs: removed 1 (")
    assert len(list((tmp_path / "queue.sqlite.blobs").glob("?" * 64))) == 1

    site = tmp_path / "site" / "site.toml"
    site.parent.mkdir()
    site.write_text(SITE_TOML + "[retention.spool]\nmax_age_days = 7\n")
    _file(site.parent / "spool" / "payloads" / "old", 3, 8, time.time())
    printed = runner.invoke(app, ["site", "prune", "--config", str(site)])
    assert printed.exit_code == 0, printed.output
    assert printed.output.splitlines()[:2] == [
        "spool: removed 1 (3 bytes), kept 0 still needed",
        "  spool/payloads/old (3 bytes, 8.0 days old)",
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text(HUB_TOML + "[retention.blobs]\nmax_bytes = 0\n")
    refused = runner.invoke(app, ["hub", "prune", "--config", str(bad)])
    assert refused.exit_code == 2 and "field 'retention.blobs.max_bytes'" in refused.output
