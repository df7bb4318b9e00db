"""`accord run --processes`: the hub here, each site its own process, mutual TLS on loopback.

Real processes, real sockets, real certificates. The study must give the same numbers as
the in-process simulation; a SIGKILLed site is a dropout that secure aggregation absorbs
and it rejoins; strangers, revoked certificates and missing certificates are refused and
the refusals recorded.
"""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.core import load_study
from accord.crypto import client_context, enroll, init_ca, sign_request
from accord.ledger import open_source, verify_log
from accord.services import start_loopback
from accord.studies import results_document, run_study
from tests.conftest import synthetic_cohort, write_study


def _study(folder: Path, rounds: int = 3):  # type: ignore[no-untyped-def]
    synthetic_cohort().to_csv(folder / "cohort.csv", index=False)
    return load_study(write_study(folder, strategy="fedavg", rounds=rounds, baselines="[]"))


def _networked(study, folder: Path, harness):  # type: ignore[no-untyped-def]
    """The study run through the harness's hub and site processes."""
    return run_study(
        study, folder, 0, ledger_dir=folder / "out", audit=harness.audit, network=harness.consortium
    )


def _figures(results) -> dict[str, object]:  # type: ignore[no-untyped-def]
    main = results[0]
    return {
        "consortium": main.consortium_cindex,
        "sites": {s: m["harrell_c"] for s, m in main.per_site.items()},
    }


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("loopback")
    study = _study(folder)
    harness = start_loopback(study, folder, folder / "out", 0, timeout_s=30.0, poll_wait_s=1.0)
    try:
        yield folder, study, harness
    finally:
        harness.close()


@pytest.fixture(scope="module")
def networked(running):  # type: ignore[no-untyped-def]
    """The study run once through the loopback hub and site processes: (sim, results)."""
    folder, study, harness = running
    return _networked(study, folder, harness)


def test_processes_give_the_simulation_numbers(running, networked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, study, harness = running
    _, simulated = run_study(study, folder, 0, ledger_dir=tmp_path / "sim")
    sim, results = networked
    assert sim.run.plan.secure is not None  # three sites: secure aggregation on
    a, b = _figures(simulated), _figures(results)
    assert a["sites"] == pytest.approx(b["sites"], abs=1e-9)
    assert a["consortium"] == pytest.approx(b["consortium"], abs=1e-9)
    for name, process in harness.processes.items():
        assert process.poll() is None, f"site {name} died"
    # each site signed its own entries from its own process, and co-signed the log
    store = harness.ledger.store
    orgs = {s.org for s in store.read()}
    assert {"hospital_0", "hospital_1", "hospital_2"} <= orgs
    latest = harness.ledger.latest_checkpoint()
    assert {c.org for c in store.cosignatures(latest.size)} >= set(harness.sites)


def test_network_figures_cite_the_site_signed_entries(running, networked) -> None:  # type: ignore[no-untyped-def]
    """Sites that sign remotely (through the hub's ledger API) are cited as in-process
    ones: every site's figures in results.json carry the seq of its own signed
    ``task.completed`` entry of the plan, and the metric entry derives from those."""
    _, _, harness = running
    sim, results = networked
    document = results_document(sim.run, results)
    store = harness.ledger.store
    for method, doc in document["methods"].items():
        plan = None
        cited = []
        for site, figures in doc["per_site"].items():
            seq = figures["ledger_seq"]
            (entry,) = store.read(seq, seq + 1)
            payload = json.loads(entry.entry)["payload"]
            assert (entry.kind, entry.org, payload["site"]) == ("task.completed", site, site)
            assert payload["task_kind"] == "evaluate"
            assert "harrell_c" in payload["metrics"]
            plan = payload["plan"]
            cited.append(seq)
        metric_seq = doc["ledger"]["metric_seq"]
        (metric,) = store.read(metric_seq, metric_seq + 1)
        payload = json.loads(metric.entry)["payload"]
        assert (metric.kind, payload["method"], payload["plan"]) == ("metric", method, plan)
        assert payload["derived_from"] == sorted(cited) != []


def _client(cert_dir: Path, org: str, ca: Path) -> httpx.Client:
    context = client_context(cert_dir / f"{org}.crt", cert_dir / f"{org}.tls.key", ca)
    return httpx.Client(verify=context, timeout=10.0)


def test_strangers_and_revoked_certificates_are_refused_and_recorded(
    running, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder, _, harness = running
    ca_dir = folder / "out" / "pki" / "ca"
    ca = ca_dir / "ca.crt"
    url = harness.url + "/v1/tasks/next?wait=0"

    # no client certificate: the TLS handshake itself fails
    bare = ssl.create_default_context(cafile=str(ca))
    with pytest.raises(httpx.HTTPError), httpx.Client(verify=bare, timeout=10.0) as client:
        client.get(url)

    # a certificate from another CA: refused at the handshake
    other = tmp_path / "other"
    init_ca(other / "ca", "another consortium")
    enroll(other, "hospital_0")
    sign_request(other / "ca", other / "hospital_0.csr", other)
    with pytest.raises(httpx.HTTPError), _client(other, "hospital_0", ca) as client:
        client.get(url)

    # our CA, but an organisation that is not a member: refused by the hub, recorded
    stranger = tmp_path / "stranger"
    enroll(stranger, "lab_x")
    sign_request(ca_dir, stranger / "lab_x.csr", stranger)
    with _client(stranger, "lab_x", ca) as client:
        assert client.get(url).status_code == 401
        knocks = [client.get(url) for _ in range(5)]  # it keeps knocking: 429, not recorded
        assert {r.status_code for r in knocks} == {429}
        assert all(int(r.headers["Retry-After"]) > 0 for r in knocks)

    # a member whose certificate was revoked on the ledger: refused from then on, recorded
    revoked = tmp_path / "revoked"
    enroll(revoked, "hospital_1")
    sign_request(ca_dir, revoked / "hospital_1.csr", revoked)
    with _client(revoked, "hospital_1", ca) as client:
        assert client.get(url).status_code in (200, 204)  # valid until revoked
        keys = folder / "out" / "keys"
        result = CliRunner().invoke(
            app,
            [
                "ca",
                "revoke",
                str(revoked / "hospital_1.crt"),
                "--reason",
                "key lost",
                "--out",
                str(tmp_path / "revocation.json"),
                "--hub",
                harness.url,
                "--signing-key",
                str(keys / "researcher.key"),
                "--tls",
                str(keys),
            ],
        )
        assert result.exit_code == 0, result.output
        assert client.get(url).status_code == 401

    kinds = [(s.kind, json.loads(s.entry)["payload"]) for s in harness.ledger.store.read()]
    reasons = [p["reason"] for k, p in kinds if k == "connection.refused"]
    assert sum("lab_x is not a member" in r for r in reasons) == 1
    assert any("revoked" in r for r in reasons)


@pytest.mark.slow  # about 2 minutes of deliberate waits (a restart, a 30 s partition)
def test_a_killed_site_drops_out_and_rejoins_and_a_partition_is_survived(
    tmp_path: Path,
) -> None:
    """SIGKILL one site after round 1 (secure aggregation carries on with the other two),
    restart it after round 3 (it takes part again), then cut the hub off for 30 s."""
    study = _study(tmp_path, rounds=7)
    harness = start_loopback(study, tmp_path, tmp_path / "out", 0, timeout_s=45.0, poll_wait_s=1.0)
    events: list[str] = []

    def progress(label: str, done: int, total: int) -> None:
        if label != "fedavg":
            return
        if done == 1:
            harness.kill_site("hospital_2")
            harness.hub.set_timeout(6.0)  # the hub stops waiting for the dead site sooner
            events.append("killed")
        elif done == 3:
            harness.start_site("hospital_2")
            time.sleep(25)  # let it start (imports) before the next round's tasks expire
            harness.hub.set_timeout(45.0)
            events.append("restarted")
        elif done == 5:
            harness.hub.partition(30.0)
            events.append("partitioned")

    try:
        sim, results = run_study(
            study,
            tmp_path,
            0,
            progress=progress,
            ledger_dir=tmp_path / "out",
            audit=harness.audit,
            network=harness.consortium,
        )
    finally:
        harness.close()
    assert events == ["killed", "restarted", "partitioned"]
    assert results[0].consortium_cindex is not None
    training = [log for log in sim.run.consortium.hub.log if log.contributed or log.missing]
    dropped = [log for log in training if "hospital_2" in log.missing]
    assert dropped, "the killed site never showed up as a dropout"
    last_drop = max(i for i, log in enumerate(training) if "hospital_2" in log.missing)
    assert any("hospital_2" in log.contributed for log in training[last_drop + 1 :]), [
        (log.round, log.missing.get("hospital_2")) for log in training[last_drop - 2 :]
    ]
    assert "hospital_2" in results[0].per_site  # evaluated at the end: it rejoined
    source = open_source(tmp_path / "out" / "ledger.sqlite")
    try:
        verdict = verify_log(source.entries(), source.checkpoints, source.cosignatures)
    finally:
        source.close()
    assert verdict.ok, verdict.summary()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_killed_hub_resumes_its_plan_from_the_last_round(tmp_path: Path) -> None:
    """`accord hub serve` in its own process, SIGKILLed after round 2 of 6 and started
    again: it carries on from round 3, gives the simulation's numbers, and its ledger has
    no entry twice and none lost (it verifies, with the sites' co-signatures)."""
    import signal
    import sys

    from accord.services import prepare_hub_process, spawn, stop_processes

    study = _study(tmp_path, rounds=6)
    out = tmp_path / "out"
    hub_toml, site_tomls = prepare_hub_process(study, tmp_path, out, 0, _free_port(), 60.0)
    hub_cmd = [sys.executable, "-m", "accord", "hub", "serve", "--config", str(hub_toml)]
    sites = [
        spawn(
            [
                sys.executable,
                "-m",
                "accord",
                "site",
                "serve",
                "--config",
                str(p),
                "--poll-wait",
                "1",
            ],
            p.parent / "site.log",
        )
        for p in site_tomls.values()
    ]
    checkpoint = out / "hub" / "checkpoints" / "fedavg.state.json"
    try:
        hub = spawn(hub_cmd, out / "hub" / "hub.log")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if checkpoint.is_file() and json.loads(checkpoint.read_text())["rounds_done"] >= 2:
                break
            assert hub.poll() is None, (out / "hub" / "hub.log").read_text()[-2000:]
            time.sleep(0.1)
        hub.send_signal(signal.SIGKILL)
        hub.wait()
        done_before = json.loads(checkpoint.read_text())["rounds_done"]
        assert 2 <= done_before < 6
        hub = spawn(hub_cmd, out / "hub" / "hub.log")
        assert hub.wait(timeout=300) == 0, (out / "hub" / "hub.log").read_text()[-3000:]
    finally:
        stop_processes(sites)
    resumed = json.loads((out / "results.json").read_text())["methods"]["fedavg"]
    _, simulated = run_study(study, tmp_path, 0, ledger_dir=tmp_path / "sim")
    expected = _figures(simulated)
    assert resumed["consortium_cindex"] == pytest.approx(expected["consortium"], abs=1e-9)
    got = {s: m["harrell_c"] for s, m in resumed["per_site"].items()}
    assert got == pytest.approx(expected["sites"], abs=1e-9)
    source = open_source(out / "ledger.sqlite")
    try:
        entries = list(source.entries())
        verdict = verify_log(iter(entries), source.checkpoints, source.cosignatures)
    finally:
        source.close()
    assert verdict.ok, verdict.summary()
    assert [e.seq for e in entries] == list(range(len(entries)))
    payloads = [(e.kind, json.loads(e.entry)["payload"]) for e in entries]
    submitted = [p for k, p in payloads if k == "plan.submitted" and p.get("method") == "fedavg"]
    assert len(submitted) == 1  # the resumed hub did not submit the plan again
    plan = submitted[0]["plan"]
    rounds = sorted(p["round"] for k, p in payloads if k == "aggregation" and p["plan"] == plan)
    assert rounds == list(range(6))  # every round aggregated once: none lost, none twice
    models = [p["plan"] for k, p in payloads if k == "model.registered"]
    assert models == [plan]
    metrics = [(p["plan"], p.get("round"), p["method"]) for k, p in payloads if k == "metric"]
    assert len(metrics) == len(set(metrics)) and (plan, None, "fedavg") in metrics
    kinds = {e.seq: (e.kind, e.org) for e in entries}
    cited = {s: kinds[m["ledger_seq"]] for s, m in resumed["per_site"].items()}
    assert cited == {s: ("task.completed", s) for s in resumed["per_site"]}


def _hand_out(harness, study) -> None:  # type: ignore[no-untyped-def]
    """Give every site process ``study`` as its study file (a restart reads it)."""
    harness.study = study
    (harness.out / "study.json").write_text(study.model_dump_json(indent=2), "utf-8")
    for site in harness.sites:
        harness.kill_site(site)
        harness.start_site(site)
    harness.wait_ready()


def test_a_data_owner_approves_a_new_function_from_its_own_site(running, networked) -> None:  # type: ignore[no-untyped-def]
    """A changed study is a new function: once the sites hold the new study file, the site
    whose owner has not approved it refuses every task; the owner approves over HTTPS
    (`accord site approve --hub URL --config`) and the site takes part in the next run.
    (``networked`` ran the original study first: the diff is against its approval.)"""
    folder, study, harness = running
    training = study.training.model_copy(update={"lr": 0.04})
    changed = study.model_copy(update={"training": training})
    _hand_out(harness, changed)  # the module's last test on this harness: it keeps `changed`
    owner = harness.audit.sites.pop("hospital_2")  # this owner decides at its own site
    try:
        sim, results = _networked(changed, folder, harness)
        assert sorted(results[0].per_site) == ["hospital_0", "hospital_1"]
        function = sim.run.plan.config.function
        config = folder / "out" / "sites" / "hospital_2" / "site.toml"
        where = ["--hub", harness.url, "--site", "hospital_2", "--config", str(config)]
        review = CliRunner().invoke(app, ["site", "functions", *where])
        assert review.exit_code == 0, review.output
        assert function in review.output and "training.lr" in review.output  # the diff
        result = CliRunner().invoke(app, ["site", "approve", function[:12], *where])
        assert result.exit_code == 0, result.output
        assert "function.approved" in result.output
        _, again = _networked(changed, folder, harness)
        assert sorted(again[0].per_site) == ["hospital_0", "hospital_1", "hospital_2"]
    finally:
        harness.audit.sites["hospital_2"] = owner
