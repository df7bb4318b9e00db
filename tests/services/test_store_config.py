"""The hub's ``[store]`` table: SQLite files by default, PostgreSQL by URL; a password in
the URL never shows in a message or a repr."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from accord.core import ConfigError
from accord.crypto import new_identity
from accord.ledger import HubLedger, genesis_payload
from accord.net import Reply, Task, TaskQueue
from accord.services import StoreConfig, read_hub_config
from accord.services._store_config import SQLITE_STORE, mask_password

HUB_TOML = (
    '[hub]\nlisten = "127.0.0.1:8443"\nrun = "run"\nstudy = "hcc-resection-survival"\n'
    "[tls]\ninsecure = true\n"
)


def _hub_toml(tmp_path: Path, store: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(HUB_TOML + (f"[store]\n{store}\n" if store else ""))
    return path


def test_without_a_store_table_the_hub_keeps_its_sqlite_files(tmp_path: Path) -> None:
    config = read_hub_config(_hub_toml(tmp_path, ""))
    assert config.store == SQLITE_STORE and not config.store.postgres
    assert config.store.queue_path(tmp_path) == tmp_path / "queue.sqlite"


def test_a_postgres_url_selects_the_database_with_its_schemas(tmp_path: Path) -> None:
    text = 'url = "postgresql://hub@db.example.org:5433/accord"\nqueue_schema = "hub_queue"'
    store = read_hub_config(_hub_toml(tmp_path, text)).store
    assert store == StoreConfig(
        url="postgresql://hub@db.example.org:5433/accord", queue_schema="hub_queue"
    )
    assert store.postgres and store.ledger_schema == "accord"
    assert store.queue_path(tmp_path) == tmp_path / "queue"  # places the blob folder only


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ('uri = "postgresql://h/db"', "store.uri", "unknown key (did you mean 'url'?)"),
        ('url = "sqlite:///x.db"', "store.url", "expected postgresql://USER@HOST"),
        ("url = 5", "store.url", "expected postgresql://"),
        ('url = "postgresql://hub:s3cret@db:99999/accord"', "store.url", "valid port"),
        ('url = "postgresql://hub:s3cret@db"', "store.url", "names no database"),
        ('url = "postgresql://h/db"\nledger_schema = "Bad-Name"', "store.ledger_schema", "SQL"),
        ('url = "postgresql://h/db"\nqueue_schema = "accord"', "store.queue_schema", "other"),
    ],
)
def test_a_bad_store_table_names_the_file_and_field_and_never_the_password(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    path = _hub_toml(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: field '{field}': ") as e:
        read_hub_config(path)
    assert message in str(e.value)
    assert "s3cret" not in str(e.value)


def test_a_store_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('store = "postgresql://h/db"\n' + HUB_TOML)
    with pytest.raises(ConfigError, match="field 'store': expected a table"):
        read_hub_config(path)


def test_the_password_is_masked_in_repr_and_description() -> None:
    store = StoreConfig(url="postgresql://hub:s3cret@db.example.org/accord?sslmode=require")
    assert "s3cret" not in repr(store) and "s3cret" not in str(store)
    assert store.describe() == "postgresql://hub:***@db.example.org/accord?sslmode=require"
    assert mask_password("postgresql://db/accord?user=hub&password=s3cret") == (
        "postgresql://db/accord?user=hub&password=***"
    )
    assert mask_password("postgresql://hub@db/accord") == "postgresql://hub@db/accord"


def test_the_sqlite_store_opens_the_ledger_and_queue_files(tmp_path: Path) -> None:
    _round_trip(SQLITE_STORE, tmp_path)
    assert (tmp_path / "ledger.sqlite").is_file() and (tmp_path / "queue.sqlite").is_file()


@pytest.mark.pg
def test_a_postgres_store_keeps_the_ledger_and_the_queue_across_a_restart(
    pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    config = read_hub_config(
        _hub_toml(
            tmp_path,
            f'url = "{pg_dsn}"\nledger_schema = "{pg_schema}"\nqueue_schema = "{pg_schema}_q"',
        )
    )
    try:
        _round_trip(config.store, tmp_path)
        assert not (tmp_path / "ledger.sqlite").exists()
        assert not (tmp_path / "queue.sqlite").exists()
    finally:
        import psycopg

        with psycopg.connect(pg_dsn, autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {pg_schema}_q CASCADE")


def _round_trip(store: StoreConfig, folder: Path) -> None:
    """A ledger entry and a large task with its reply, written, closed and read again."""
    hub = new_identity("hub")
    key = [hub.public.to_dict()]
    ledger = HubLedger.create(
        store.open_ledger(folder / "ledger.sqlite", create=True),
        hub,
        "log-1",
        genesis_payload("s", "hub", key),
    )
    ledger.record(hub, "note", {"n": 1})
    size = ledger.store.size()
    ledger.store.close()
    arrays = {"w": np.ones(3_000_000, dtype=np.float32)}  # over the inline limit: a blob
    queue = TaskQueue(store.queue_path(folder), store=store.open_queue(folder))
    task = Task.build(task_id="t1", plan_id="p", round=1, site="a", kind="stats", arrays=arrays)
    queue.post(task)
    assert queue.store.blobs_in_use()  # the open round needs its payload
    leased = queue.lease("a", 1.0)
    assert leased is not None and leased.task_id == "t1"
    queue.put_reply("a", Reply.build(task_id="t1", site="a", kind="stats").to_wire())
    queue.close()
    reopened = store.open_ledger(folder / "ledger.sqlite")
    try:
        assert reopened.size() == size > 1
    finally:
        reopened.close()
    queue = TaskQueue(store.queue_path(folder), store=store.open_queue(folder))
    try:
        assert set(queue.replies(["t1"])) == {"t1"}
        assert queue.store.blobs_in_use() == set()  # the round closed: its blob may go
    finally:
        queue.close()


@pytest.mark.pg
def test_init_store_copies_the_run_ledger_into_postgres_once(
    pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from accord.cli import app
    from accord.core import load_study
    from accord.data import load_cohort
    from accord.ledger import SQLiteLedgerStore
    from accord.studies import RunLedger
    from tests.conftest import synthetic_cohort, write_study

    synthetic_cohort(n_per_site=20, sites=2).to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy="fedavg", rounds=1, baselines="[]"))
    RunLedger.create(tmp_path / "run", study, load_cohort(study.cohort, tmp_path, 0)).close()
    config = _hub_toml(tmp_path, f'url = "{pg_dsn}"\nledger_schema = "{pg_schema}"')
    runner = CliRunner()
    copied = runner.invoke(app, ["hub", "init-store", "--config", str(config)])
    assert copied.exit_code == 0, copied.output
    store = read_hub_config(config).store
    with SQLiteLedgerStore(tmp_path / "run" / "ledger.sqlite", create=False) as source:
        target = store.open_ledger(tmp_path / "ledger.sqlite")
        try:
            size = source.size()
            assert target.size() == size > 2
            assert target.root() == source.root()
            assert target.checkpoints() == source.checkpoints() != []
            assert target.cosignatures() == source.cosignatures() != []
        finally:
            target.close()
    assert f"copied {size} ledger entries into postgresql://" in copied.output
    again = runner.invoke(app, ["hub", "init-store", "--config", str(config)])
    assert again.exit_code != 0 and "already holds" in again.output
    sqlite = _hub_toml(tmp_path, "")
    refused = runner.invoke(app, ["hub", "init-store", "--config", str(sqlite)])
    assert refused.exit_code == 2 and "field 'store.url': not set" in refused.output
