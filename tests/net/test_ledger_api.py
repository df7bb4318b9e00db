"""The ledger over HTTPS: sites sign their own entries, the hub sequences, replicas co-sign."""

from __future__ import annotations

import base64
import os
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from accord.core import EquivocationError, LedgerError, load_study
from accord.crypto import (
    Identity,
    TLSFiles,
    check_peer,
    client_context,
    enroll,
    init_ca,
    load_ca_certificate,
    new_identity,
    server_context,
    sign_request,
)
from accord.fl import LedgerRecorder, Site, SiteContext
from accord.ledger import (
    Entry,
    HubLedger,
    SignedReceipt,
    SiteReplica,
    SQLiteLedgerStore,
    checkpoint_from_json,
    checkpoint_to_json,
    cosignature_to_json,
    entry_from_json,
    entry_to_json,
    genesis_payload,
    receipt_from_json,
    receipt_to_json,
    sign_entry,
    utc_now,
    verify_log,
)
from accord.net import (
    LockedHubLedger,
    RemoteHub,
    RemoteLedger,
    Reply,
    Task,
    authenticate_certificate,
    ledger_router,
)
from accord.net import _ledger_api as ledger_api
from accord.net._remote_ledger import check_receipt
from accord.studies import Simulation
from tests.conftest import write_study
from tests.net.conftest import Serve

LOG_ID = "log-net"


@dataclass
class Hub:
    """A hub's ledger served on loopback, and the consortium's identities."""

    ledger: LockedHubLedger
    url: str
    hub: Identity
    sites: dict[str, Identity]


def _open_hub(path: Path, hub: Identity, members: list[Identity]) -> LockedHubLedger:
    orgs = [i.public.to_dict() for i in (hub, *members)]
    genesis = genesis_payload("test", hub.org, orgs)
    return LockedHubLedger(lambda: HubLedger.create(SQLiteLedgerStore(path), hub, LOG_ID, genesis))


@pytest.fixture
def hub(serve: Serve, tmp_path: Path) -> Iterator[Hub]:
    identities = {name: new_identity(name) for name in ("hospital_a", "hospital_b")}
    hub_key = new_identity("hub")
    ledger = _open_hub(tmp_path / "hub.sqlite", hub_key, list(identities.values()))
    url = serve(routers=[ledger_router(ledger)])
    yield Hub(ledger, url, hub_key, identities)
    serve.stop()
    ledger.close()


def _http(url: str, site: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Accord-Site": site}, timeout=10.0)


def _posted(entry: Entry, signer: Identity, signature: bytes | None = None) -> dict[str, str]:
    signed = sign_entry(entry, signer)
    return {
        "entry": base64.b64encode(signed.raw).decode(),
        "signature": base64.b64encode(signature or signed.signature).decode(),
    }


def _draft(hub: Hub, author: Identity, kind: str = "task.accepted") -> Entry:
    seq, prev = hub.ledger.slot()
    return Entry(LOG_ID, seq, author.org, author.key_id, kind, {"plan": "p"}, prev, utc_now())


def _verified(ledger: LockedHubLedger) -> None:
    store = ledger.store
    report = verify_log(store.read(), store.checkpoints(), store.cosignatures())
    assert report.ok, report.reason


def test_sites_and_the_hub_append_concurrently_without_loss_or_duplicates(hub: Hub) -> None:
    per_author = 12
    receipts: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def site(name: str) -> None:
        with _http(hub.url, name) as http:
            ledger = RemoteLedger(http)
            try:
                receipts[name] = [
                    ledger.record(hub.sites[name], "task.completed", {"plan": "p", "i": i}).seq
                    for i in range(per_author)
                ]
            except BaseException as exc:
                errors.append(exc)

    def hub_loop() -> None:
        seqs = []
        for i in range(per_author):
            seqs.append(hub.ledger.record(hub.hub, "task.dispatched", {"plan": "p", "i": i}).seq)
            time.sleep(0.002)
        receipts["hub"] = seqs

    threads = [threading.Thread(target=site, args=(n,)) for n in hub.sites]
    threads.append(threading.Thread(target=hub_loop))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    all_seqs = sorted(s for seqs in receipts.values() for s in seqs)
    assert all_seqs == list(range(1, 3 * per_author + 1))
    entries = [Entry.parse(e.entry) for e in hub.ledger.store.read(1)]
    by_author = {(e.org, e.payload["i"]) for e in entries}
    assert len(by_author) == len(entries) == 3 * per_author
    for name, seqs in receipts.items():  # each receipt names the author's own entry
        assert {entries[s - 1].org for s in seqs} == {name}
    hub.ledger.checkpoint()
    _verified(hub.ledger)


def test_a_site_cannot_append_an_entry_authored_by_another_organisation(hub: Hub) -> None:
    before = hub.ledger.store.size()
    forged = _posted(_draft(hub, hub.sites["hospital_a"]), hub.sites["hospital_a"])
    with _http(hub.url, "hospital_b") as http:
        answer = http.post("/v1/ledger/entries", json=forged)
        with pytest.raises(LedgerError, match="status 403"):
            RemoteLedger(http).record(hub.sites["hospital_a"], "task.accepted", {"plan": "p"})
    assert answer.status_code == 403
    assert "'hospital_b' may not append an entry authored by 'hospital_a'" in answer.json()["error"]
    assert hub.ledger.store.size() == before


def test_a_forged_signature_or_an_unknown_key_is_a_400_naming_the_problem(hub: Hub) -> None:
    site = hub.sites["hospital_a"]
    impostor = new_identity("hospital_a")  # the right name, a key the genesis does not list
    with _http(hub.url, "hospital_a") as http:
        forged = http.post(
            "/v1/ledger/entries", json=_posted(_draft(hub, site), site, signature=os.urandom(64))
        )
        unknown = http.post("/v1/ledger/entries", json=_posted(_draft(hub, impostor), impostor))
        garbled = http.post("/v1/ledger/entries", json={"entry": "%%%", "signature": ""})
        missing = http.post("/v1/ledger/entries", json={"entry": ""})
    assert forged.status_code == 400 and "bad signature" in forged.json()["error"]
    assert unknown.status_code == 400 and "unknown key hospital_a/" in unknown.json()["error"]
    assert garbled.status_code == 400 and "field 'entry'" in garbled.json()["error"]
    assert missing.status_code == 400 and "signature" in missing.json()["error"]
    assert hub.ledger.store.size() == 1


def test_a_taken_slot_is_a_409_with_the_head_and_a_retry_is_answered_once(hub: Hub) -> None:
    site = hub.sites["hospital_a"]
    late = _posted(_draft(hub, site), site)
    hub.ledger.record(hub.hub, "task.dispatched", {"plan": "p"})  # takes the slot first
    with _http(hub.url, "hospital_a") as http:
        taken = http.post("/v1/ledger/entries", json=late)
        fresh = _posted(_draft(hub, site), site)
        first = http.post("/v1/ledger/entries", json=fresh)
        again = http.post("/v1/ledger/entries", json=fresh)  # a retry after a lost answer
        head = http.get("/v1/ledger/head").json()
    assert taken.status_code == 409
    assert taken.json()["head"]["size"] == 2 and taken.json()["head"]["log_id"] == LOG_ID
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["seq"] == 2
    assert head["size"] == 3 == hub.ledger.store.size()
    assert head["prev"] == hub.ledger.store.head().hex()


def test_a_replica_over_https_pulls_verifies_and_cosigns(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_api, "PAGE_LIMIT", 4)  # the replica pulls page by page
    site = hub.sites["hospital_a"]
    with _http(hub.url, "hospital_a") as http:
        for i in range(5):
            RemoteLedger(http).record(site, "task.completed", {"plan": "p", "i": i})
            hub.ledger.record(hub.hub, "aggregation", {"plan": "p", "round": i})
        assert len(http.get("/v1/ledger/entries").json()["entries"]) == 4
        cp = hub.ledger.checkpoint()
        replica = SiteReplica(SQLiteLedgerStore(tmp_path / "site.sqlite"), site)
        remote = RemoteHub(http)
        cs = replica.sync(remote)
        assert cs is not None and cs.size == cp.size == 11
        assert replica.store.root() == cp.root
        assert [c.org for c in hub.ledger.store.cosignatures(cp.size)] == ["hospital_a"]
        assert [c.org for c in remote.store.cosignatures(cp.size)] == ["hospital_a"]
        hub.ledger.record(hub.hub, "aggregation", {"plan": "p", "round": 5})
        assert replica.sync(remote) == cs  # no newer checkpoint yet
        assert replica.size == 12
        replica.store.close()
    with _http(hub.url, "hospital_b") as http:
        as_other = http.post("/v1/ledger/cosignatures", json=cosignature_to_json(cs))
    assert as_other.status_code == 403
    _verified(hub.ledger)


def test_a_hub_that_rewrites_history_is_caught_by_the_replica(
    hub: Hub, serve: Serve, tmp_path: Path
) -> None:
    site = hub.sites["hospital_a"]
    for i in range(3):
        hub.ledger.record(hub.hub, "aggregation", {"plan": "p", "round": i})
    hub.ledger.checkpoint()
    replica = SiteReplica(SQLiteLedgerStore(tmp_path / "site.sqlite"), site)
    with _http(hub.url, "hospital_a") as http:
        assert replica.sync(RemoteHub(http)) is not None
    # The same hub keys and log id, another history of the same length.
    rewritten = _open_hub(tmp_path / "rewritten.sqlite", hub.hub, list(hub.sites.values()))
    try:
        for i in range(3):
            rewritten.record(hub.hub, "aggregation", {"plan": "p", "round": 10 + i})
        rewritten.checkpoint()
        url = serve(routers=[ledger_router(rewritten)])
        with _http(url, "hospital_a") as http:
            liar = RemoteHub(http)
            with pytest.raises(EquivocationError, match="two different roots for size 4"):
                replica.sync(liar)
            rewritten.record(hub.hub, "aggregation", {"plan": "p", "round": 13})
            rewritten.checkpoint()
            # a longer history that does not extend the co-signed one: not only a broken
            # chain, the hub's own checkpoints conflict (the replica shows both)
            with pytest.raises(EquivocationError, match="size 5 is not consistent with size 4"):
                replica.sync(liar)
        assert replica.size == 4
    finally:
        replica.store.close()
        rewritten.close()


def test_the_recorder_middleware_at_a_site_signs_its_entries_over_https(
    serve: Serve, cohort_dir: Path
) -> None:
    sim = Simulation.prepare(load_study(write_study(cohort_dir, "fedavg", rounds=1)), cohort_dir, 0)
    hub_key, site_key = new_identity("hub"), new_identity("hospital_0")
    ledger = _open_hub(cohort_dir / "hub.sqlite", hub_key, [site_key])
    try:
        url = serve(routers=[ledger_router(ledger)])
        with _http(url, "hospital_0") as http:
            # A site's recorder: the middleware only signs as ``site_key``; the hub
            # signer is never used at a site, so the site passes its own.
            recorder = LedgerRecorder(RemoteLedger(http), site_key)
            ctx = sim.sites["hospital_0"].context
            site = Site(
                SiteContext(ctx.site, ctx.cohort, ctx.study, 0),
                {"train": _ok},
                [recorder.middleware(site_key)],
            )
            task = Task.build(task_id="t1", plan_id="p1", round=0, site="hospital_0", kind="train")
            assert site.handle(task).status == "ok"
        entries = [Entry.parse(e.entry) for e in ledger.store.read()]
        assert [e.kind for e in entries] == ["genesis", "task.accepted", "task.completed"]
        assert {e.org for e in entries[1:]} == {"hospital_0"}
        assert recorder.completed == {"t1": 2}
        _verified(ledger)
    finally:
        ledger.close()


def _ok(task: Task, ctx: SiteContext) -> Reply:
    return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, weight=1.0)


def test_a_call_from_the_ledger_thread_does_not_wait_on_itself(hub: Hub) -> None:
    assert hub.ledger.call(lambda ledger: hub.ledger.slot()) == hub.ledger.slot()
    assert hub.ledger.call(lambda ledger: threading.current_thread().name).startswith(
        "accord-ledger"
    )


def test_a_receipt_is_checked_against_the_hub_key_and_the_entry(hub: Hub) -> None:
    site = hub.sites["hospital_a"]
    signed = sign_entry(_draft(hub, site), site)
    receipt = hub.ledger.submit(signed)
    keys = hub.ledger.call(lambda ledger: ledger.verifier.registry)
    check_receipt(receipt, signed, keys)
    other = sign_entry(_draft(hub, site), site)
    with pytest.raises(LedgerError, match="does not match entry"):
        check_receipt(receipt, other, keys)
    forged = SignedReceipt(receipt.body, bytes(64), receipt.seq)
    with pytest.raises(LedgerError, match="bad receipt signature"):
        check_receipt(forged, signed, keys)
    assert receipt_from_json(receipt_to_json(receipt)) == receipt


def test_wire_forms_round_trip_and_name_the_bad_field(hub: Hub) -> None:
    hub.ledger.record(hub.hub, "aggregation", {"plan": "p"})
    cp = hub.ledger.checkpoint()
    (entry,) = hub.ledger.store.read(1, 2)
    assert entry_from_json(entry_to_json(entry)) == entry
    assert checkpoint_from_json(checkpoint_to_json(cp)) == cp
    with pytest.raises(LedgerError, match="malformed checkpoint: field 'root'"):
        checkpoint_from_json({**checkpoint_to_json(cp), "root": "zz" * 32})
    with pytest.raises(LedgerError, match="malformed stored entry: field 'seq'"):
        entry_from_json({**entry_to_json(entry), "seq": True})
    with pytest.raises(LedgerError, match="field 'signature'"):
        entry_from_json({**entry_to_json(entry), "signature": "not base64!"})


# --- mutual TLS --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    init_ca(folder, "consortium")
    for org, hosts in (("hub", ["127.0.0.1"]), ("hospital-a", [])):
        _, csr = enroll(folder, org, hosts=hosts)
        sign_request(folder, csr, folder)
    return folder


def _context(pki: Path, org: str, server: bool = False) -> ssl.SSLContext:
    files = TLSFiles.for_org(pki, org)
    return (server_context if server else client_context)(files.cert, files.key, files.ca)


def test_over_mutual_tls_the_certificate_decides_who_may_sign(
    pki: Path, serve: Serve, tmp_path: Path
) -> None:
    hub_key, site_a, site_b = (new_identity(o) for o in ("hub", "hospital-a", "hospital-b"))
    ledger = _open_hub(tmp_path / "hub.sqlite", hub_key, [site_a, site_b])
    ca = load_ca_certificate(pki / "ca.crt")
    try:
        url = serve(
            ssl_context=_context(pki, "hub", server=True),
            authenticate=authenticate_certificate(lambda der: check_peer(der, ca).org),
            routers=[ledger_router(ledger)],
        )
        # the Accord-Site header is ignored under mutual TLS
        headers = {"Accord-Site": "hospital-b"}
        with httpx.Client(
            base_url=url, verify=_context(pki, "hospital-a"), headers=headers
        ) as http:
            remote = RemoteLedger(http)
            assert remote.record(site_a, "task.accepted", {"plan": "p"}).seq == 1
            with pytest.raises(LedgerError, match="status 403"):
                remote.record(site_b, "task.accepted", {"plan": "p"})
        assert ledger.store.size() == 2
    finally:
        ledger.close()
