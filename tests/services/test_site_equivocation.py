"""A site process pins its anchor (``[ledger] anchor``) and stops working for a hub it
holds equivocation evidence against."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from accord.core import ConfigError, EquivocationError, LedgerError
from accord.crypto import new_identity, save_identity
from accord.fl import SiteContext
from accord.ledger import EVIDENCE_DIR, anchor_of, write_anchor
from accord.net import Reply, Task
from accord.services import SiteService, read_service_config
from accord.services._site_service import equivocation_guard
from tests.conftest import synthetic_cohort, write_study
from tests.ledger.conftest import Log, build_log


@pytest.fixture
def log(tmp_path: Path) -> Log:
    (tmp_path / "hub").mkdir()
    return build_log(tmp_path / "hub")


SITE_TOML = """[site]
org = "hospital_a"
dataset = "hospital_a.cohort"
hub = "http://127.0.0.1:8443"
study = "hcc-resection-survival"

[tls]
insecure = true
{ledger}"""


def _config(folder: Path, ledger: str = '[ledger]\nanchor = "anchor.json"\n') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "site.toml"
    path.write_text(SITE_TOML.format(ledger=ledger))
    return path


def test_the_site_config_names_its_anchor(tmp_path: Path) -> None:
    config = read_service_config(_config(tmp_path / "site"))
    assert config.anchor == (tmp_path / "site" / "anchor.json").resolve()
    assert read_service_config(_config(tmp_path / "old", "")).anchor is None  # as before
    with pytest.raises(ConfigError, match=r"field 'ledger\.anchor': expected a file path"):
        read_service_config(_config(tmp_path / "bad", "[ledger]\nanchor = 3\n"))


def test_the_site_replica_refuses_a_log_of_another_genesis(log: Log, tmp_path: Path) -> None:
    config = read_service_config(_config(tmp_path / "site"))
    (tmp_path / "other").mkdir()
    other = build_log(tmp_path / "other", n=3)  # another consortium's log
    write_anchor(config.folder / "anchor.json", anchor_of(next(iter(log.ledger.store.read(0, 1)))))
    foreign = config.open_replica(tmp_path / "foreign.sqlite", log.site)
    with pytest.raises(LedgerError, match="anchor mismatch: field 'genesis'"):
        foreign.pull(other.ledger)
    ours = config.open_replica(tmp_path / "ours.sqlite", log.site)
    assert ours.sync(log.ledger) is not None
    assert ours.evidence_dir == config.folder / EVIDENCE_DIR
    (config.folder / "anchor.json").write_text("{}")
    with pytest.raises(LedgerError, match="field 'format'"):
        config.open_replica(tmp_path / "third.sqlite", log.site)


def _task() -> Task:
    return Task(task_id="t-1", plan_id="plan-1", site="hospital_a", kind="train", round=0)


def test_a_site_holding_evidence_runs_no_task_and_halts(log: Log, tmp_path: Path) -> None:
    config = read_service_config(_config(tmp_path / "site", ""))
    replica = config.open_replica(tmp_path / "replica.sqlite", log.site)
    halts: list[int] = []
    ran: list[str] = []

    def handler(task: Task, ctx: SiteContext) -> Reply:
        ran.append(task.task_id)
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind)

    guard = equivocation_guard(replica, lambda: halts.append(1))
    ctx = SiteContext.__new__(SiteContext)  # the guard never looks at the context
    guard(_task(), ctx, handler)
    assert ran == ["t-1"] and halts == []  # no evidence: the task runs
    (config.folder / EVIDENCE_DIR).mkdir()
    (config.folder / EVIDENCE_DIR / "equivocation-9-fork.json").write_text(json.dumps({}))
    with pytest.raises(EquivocationError, match="holds equivocation evidence"):
        guard(_task(), ctx, handler)
    assert ran == ["t-1"] and halts  # not run, and the site stops polling


def test_evidence_found_during_a_task_halts_the_site(log: Log, tmp_path: Path) -> None:
    config = read_service_config(_config(tmp_path / "site", ""))
    replica = config.open_replica(tmp_path / "replica.sqlite", log.site)
    halts: list[int] = []

    def finds_evidence(task: Task, ctx: SiteContext) -> Reply:  # e.g. a recorder that
        (config.folder / EVIDENCE_DIR).mkdir()  # turned the error into a failed reply
        (config.folder / EVIDENCE_DIR / "equivocation-9-fork.json").write_text("{}")
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind)

    equivocation_guard(replica, lambda: halts.append(1))(
        _task(), SiteContext.__new__(SiteContext), finds_evidence
    )
    assert halts == [1]


def test_a_site_process_holding_evidence_does_not_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    synthetic_cohort().to_csv(data / "cohort.csv", index=False)
    study = write_study(data, "newton_raphson", rounds=1)
    folder = tmp_path / "site"
    folder.mkdir()
    save_identity(new_identity("hospital_0"), folder)
    text = SITE_TOML.format(ledger="").replace("hospital_a", "hospital_0")
    text = text.replace("hcc-resection-survival", str(study))
    (folder / "site.toml").write_text(text.replace("[site]\n", f'[site]\ndata = "{data}"\n'))
    service = SiteService(read_service_config(folder / "site.toml"), poll_wait_s=0.1)
    (folder / EVIDENCE_DIR).mkdir()
    (folder / EVIDENCE_DIR / "equivocation-4-fork.json").write_text("{}")
    stopped = threading.Event()
    stopped.set()  # without the refusal, run() would return at once instead of raising
    with pytest.raises(EquivocationError, match="holds equivocation evidence"):
        service.run(stopped)
