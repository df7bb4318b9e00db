"""``accord member enroll`` and its aliases, ``consortium init --member``, ``admit`` and
``remove``: keys stay home, the hub founds the consortium from public cards alone (#15)."""

from __future__ import annotations

import base64
import json
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from accord.cli import app
from accord.core import ConfigError, KeyFileError, LedgerError
from accord.crypto import (
    TLSFiles,
    check_peer,
    load_ca_certificate,
    load_card,
    load_identity,
    server_context,
)
from accord.ledger import HubLedger, KeyRegistry, SQLiteLedgerStore, Verifier
from accord.net import (
    LockedHubLedger,
    TaskQueue,
    authenticate_certificate,
    create_app,
    ledger_router,
    start_in_thread,
)

runner = CliRunner()
SITES = ("hospital-a", "hospital-b", "hospital-c")


def _run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _ok(*args: str | Path) -> str:
    code, output = _run(*args)
    assert code == 0, output
    return output


def _members(root: Path) -> dict[str, Path]:
    """Each organisation enrolled in its own folder (its own machine); org -> card."""
    _ok("hub", "enroll", "--org", "hub", "--out", root / "hubdir", "--host", "127.0.0.1")
    for site in SITES:
        _ok("site", "enroll", "--org", site, "--out", root / site)
    _ok("researcher", "enroll", "--org", "lab", "--out", root / "lab")
    _ok("member", "enroll", "--role", "operator", "--org", "ca-office", "--out", root / "ca-office")
    folders = {"hub": root / "hubdir", **{o: root / o for o in (*SITES, "lab", "ca-office")}}
    return {org: folder / f"{org}.card.json" for org, folder in folders.items()}


def _init(root: Path, cards: dict[str, Path] | list[Path]) -> tuple[int, str]:
    paths = list(cards.values()) if isinstance(cards, dict) else cards
    members = [arg for card in paths for arg in ("--member", card)]
    return _run("consortium", "init", root / "hubdir", "--name", "hcc", *members)


def test_site_enroll_makes_keys_that_stay_and_a_card_to_hand_over(tmp_path: Path) -> None:
    output = _ok("site", "enroll", "--org", "hospital-a", "--out", tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "hospital-a.card.json",
        "hospital-a.csr",
        "hospital-a.key",
        "hospital-a.pub.json",
        "hospital-a.tls.key",
    ]
    for private in ("hospital-a.key", "hospital-a.tls.key"):
        assert stat.S_IMODE((tmp_path / private).stat().st_mode) == 0o600
        assert f"private: {tmp_path / private}" in output
    assert f"hand over: {tmp_path / 'hospital-a.card.json'}" in output
    card = load_card(tmp_path / "hospital-a.card.json")
    assert card.role == "site"
    assert card.public == load_identity(tmp_path / "hospital-a.key").public
    assert "PRIVATE KEY" not in output


def test_enroll_reuses_an_existing_signing_key_or_takes_one_given(tmp_path: Path) -> None:
    _ok("keys", "new", "--org", "hospital-a", "--out", tmp_path / "keys")
    given = tmp_path / "keys" / "hospital-a.key"
    output = _ok(
        "site", "enroll", "--org", "hospital-a", "--out", tmp_path / "a", "--signing-key", given
    )
    assert load_card(tmp_path / "a" / "hospital-a.card.json").public == load_identity(given).public
    assert not (tmp_path / "a" / "hospital-a.key").exists() and "reused" in output
    _ok("site", "enroll", "--org", "hospital-b", "--out", tmp_path / "b")
    first = load_identity(tmp_path / "b" / "hospital-b.key").key_id
    _ok("site", "enroll", "--org", "hospital-b", "--out", tmp_path / "b", "--overwrite")
    assert load_card(tmp_path / "b" / "hospital-b.card.json").key_id == first


def test_enroll_refuses_another_orgs_signing_key_and_a_bad_role(tmp_path: Path) -> None:
    _ok("keys", "new", "--org", "hospital-a", "--out", tmp_path / "keys")
    code, output = _run(
        "site", "enroll", "--org", "hospital-b", "--out", tmp_path / "b",
        "--signing-key", tmp_path / "keys" / "hospital-a.key",
    )  # fmt: skip
    assert code == ConfigError.exit_code and "not of 'hospital-b'" in output
    assert not (tmp_path / "b").exists()
    code, output = _run("member", "enroll", "--role", "king", "--org", "x", "--out", tmp_path)
    assert code == ConfigError.exit_code and "expected one of site" in output
    code, output = _run("hub", "enroll", "--org", "hub", "--out", tmp_path / "h")
    assert code == ConfigError.exit_code and "--host" in output


def _secrets(folder: Path, org: str) -> list[bytes]:
    """What would betray ``org``'s private keys: the key files' bytes, the PEM bodies and
    the raw Ed25519 private key (in base64 and raw)."""
    signing = folder / f"{org}.key"
    pem = json.loads(signing.read_text())["private_key_pem"].encode()
    raw = serialization.load_pem_private_key(pem, None).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    tls = (folder / f"{org}.tls.key").read_bytes()
    body = b"".join(pem.splitlines()[1:-1])
    tls_body = b"".join(tls.splitlines()[1:-1])
    return [signing.read_bytes(), pem, body, raw, base64.b64encode(raw), tls, tls_body]


def _registry(hubdir: Path) -> KeyRegistry:
    """The key registry replayed from HUBDIR's ledger."""
    store = SQLiteLedgerStore(hubdir / "ledger.sqlite", create=False)
    verifier = Verifier()
    for stored in store.read():
        verifier.feed(stored)
    store.close()
    return verifier.registry


def test_a_consortium_is_founded_from_cards_alone(tmp_path: Path) -> None:
    cards = _members(tmp_path)
    code, output = _init(tmp_path, cards)
    assert code == 0, output
    hubdir = tmp_path / "hubdir"
    anchor = json.loads((hubdir / "anchor.json").read_text())
    assert anchor["genesis"] in output and "hand anchor.json to every member" in output
    verified = _ok("ledger", "verify", hubdir / "ledger.sqlite", "--anchor", hubdir / "anchor.json")
    assert "OK: 1 entries" in verified and "ANCHORED" in verified
    manifest = json.loads((hubdir / "consortium.json").read_text())
    assert manifest["name"] == "hcc" and manifest["hub"] == "hub"
    assert manifest["members"] == {
        "hub": "hub", **dict.fromkeys(SITES, "site"), "lab": "researcher", "ca-office": "operator",
    }  # fmt: skip
    registry = _registry(hubdir)
    assert registry.operators == {"ca-office"}
    assert registry.members() == manifest["members"]
    # no private key of any other organisation is anywhere under HUBDIR
    hub_files = [p.read_bytes() for p in hubdir.rglob("*") if p.is_file()]
    for org in (*SITES, "lab", "ca-office"):
        for secret in _secrets(tmp_path / org, org):
            assert not any(secret in data for data in hub_files), org
    assert not any(b"dataset.registered" in data for data in hub_files)


def test_consortium_init_refuses_bad_member_lists(tmp_path: Path) -> None:
    cards = _members(tmp_path)
    others = [cards[o] for o in (*SITES, "lab")]
    code, output = _init(tmp_path, others)
    assert code == ConfigError.exit_code and "0 cards have role hub" in output
    _ok("hub", "enroll", "--org", "hub2", "--out", tmp_path / "hub2", "--host", "h.example")
    code, output = _init(tmp_path, [*cards.values(), tmp_path / "hub2" / "hub2.card.json"])
    assert code == ConfigError.exit_code and "2 cards have role hub" in output
    code, output = _init(tmp_path, [*cards.values(), cards["hospital-a"]])
    assert code == ConfigError.exit_code and "hospital-a has more than one card" in output
    # hospital-b's card carrying hospital-a's signing key (the CSR is still hospital-b's)
    clone = tmp_path / "clone.card.json"
    document = json.loads(cards["hospital-b"].read_text())
    stolen = json.loads(cards["hospital-a"].read_text())
    document.update({k: stolen[k] for k in ("key_id", "public_key")})
    clone.write_text(json.dumps(document))
    code, output = _init(tmp_path, [c for o, c in cards.items() if o != "hospital-b"] + [clone])
    assert code == ConfigError.exit_code and "hand over the same signing key" in output
    assert not (tmp_path / "hubdir" / "ledger.sqlite").exists()
    assert _init(tmp_path, cards)[0] == 0
    code, output = _init(tmp_path, cards)
    assert code == ConfigError.exit_code and "a consortium already exists" in output


def test_consortium_init_needs_the_hubs_own_key_there(tmp_path: Path) -> None:
    cards = _members(tmp_path)
    (tmp_path / "hubdir" / "hub.key").rename(tmp_path / "hub.key")
    code, output = _init(tmp_path, cards)
    assert code == ConfigError.exit_code and "the hub's signing key is not here" in output
    assert not (tmp_path / "hubdir" / "ledger.sqlite").exists()


def test_consortium_init_with_a_study_points_to_simulate(tmp_path: Path) -> None:
    code, output = _run("consortium", "init", tmp_path / "ws", "--study", "hcc-resection-survival")
    assert code == ConfigError.exit_code
    assert "accord consortium simulate WS --study hcc-resection-survival" in output
    assert not (tmp_path / "ws").exists()


def test_a_member_card_with_a_bad_field_is_one_line_naming_the_file(tmp_path: Path) -> None:
    cards = _members(tmp_path)
    document = json.loads(cards["hospital-a"].read_text())
    document["key_id"] = "0" * 16
    cards["hospital-a"].write_text(json.dumps(document))
    code, output = _init(tmp_path, cards)
    assert code == KeyFileError.exit_code
    assert f"{cards['hospital-a']}: field 'key_id' does not match" in output.replace("\n", "")


def test_admit_and_remove_members(tmp_path: Path) -> None:
    cards = _members(tmp_path)
    assert _init(tmp_path, {o: c for o, c in cards.items() if o != "hospital-c"})[0] == 0
    hub = tmp_path / "hubdir"
    output = _ok("consortium", "admit", cards["hospital-c"], "--hub-dir", hub)
    assert "admitted hospital-c (site" in output and f"entry 1 in {hub / 'ledger.sqlite'}" in output
    code, output = _run("consortium", "admit", cards["hospital-c"], "--hub-dir", hub)
    assert code == LedgerError.exit_code and "already a member" in output
    output = _ok("consortium", "remove", "hospital-a", "--reason", "left", "--hub-dir", hub)
    assert "removed hospital-a: entry 2 in" in output
    code, output = _run("consortium", "remove", "hub", "--reason", "x", "--hub-dir", hub)
    assert code == LedgerError.exit_code and "the hub cannot be removed" in output
    code, output = _run("consortium", "remove", "lab", "--reason", "a\nb", "--hub-dir", hub)
    assert code == ConfigError.exit_code and "one printable line" in output
    # re-admitting the removed member's card (its revoked key) is refused
    code, output = _run("consortium", "admit", cards["hospital-a"], "--hub-dir", hub)
    assert code == LedgerError.exit_code and "never becomes valid again" in output
    verified = _ok("ledger", "verify", hub / "ledger.sqlite", "--anchor", hub / "anchor.json")
    assert "OK: 3 entries" in verified and "member.admitted 1, member.removed 1" in verified
    members = json.loads((hub / "consortium.json").read_text())["members"]
    assert "hospital-a" not in members and members["hospital-c"] == "site"


def test_admit_needs_a_hub_folder_or_a_hub_url(tmp_path: Path) -> None:
    cards = _members(tmp_path)
    code, output = _run("consortium", "admit", cards["hospital-a"], "--hub-dir", tmp_path / "x")
    assert code == ConfigError.exit_code and "not a hub folder" in output
    code, output = _run("consortium", "remove", "lab", "--reason", "x")
    assert code == ConfigError.exit_code and "give --hub-dir HUBDIR" in output
    code, output = _run("consortium", "admit", cards["lab"], "--hub", "https://127.0.0.1:1")
    assert code == ConfigError.exit_code and "--hub needs --signing-key and --tls" in output


def _serve_hub(hubdir: Path, tls: Path) -> tuple[str, LockedHubLedger, Callable[[], None]]:
    """The hub's ledger in HUBDIR served over mutual TLS on loopback."""
    hub = load_identity(hubdir / "hub.key")
    ledger = LockedHubLedger(
        lambda: HubLedger(SQLiteLedgerStore(hubdir / "ledger.sqlite", create=False), hub)
    )
    files = TLSFiles.for_org(tls, "hub")
    ca = load_ca_certificate(files.ca)
    app_ = create_app(
        TaskQueue(hubdir / "queue.sqlite"),
        authenticate_certificate(lambda der: check_peer(der, ca).org),
        routers=[ledger_router(ledger)],
    )
    url, stop = start_in_thread(app_, ssl_context=server_context(files.cert, files.key, files.ca))
    return url, ledger, stop


def test_an_operator_admits_and_removes_at_a_running_hub(tmp_path: Path) -> None:
    cards = _members(tmp_path)
    assert _init(tmp_path, {o: c for o, c in cards.items() if o != "hospital-c"})[0] == 0
    _ok("ca", "init", "--out", tmp_path / "ca", "--consortium", "hcc")
    tls = {org: tmp_path / org for org in ("hub", "ca-office", "hospital-a")}
    tls["hub"] = tmp_path / "hubdir"
    for org, folder in tls.items():
        _ok("ca", "sign", folder / f"{org}.card.json", "--ca", tmp_path / "ca", "--out", folder)
        shutil.copy(tmp_path / "ca" / "ca.crt", folder / "ca.crt")
    url, ledger, stop = _serve_hub(tmp_path / "hubdir", tls["hub"])
    operator = [
        "--signing-key",
        tmp_path / "ca-office" / "ca-office.key",
        "--tls",
        tls["ca-office"],
    ]
    site = ["--signing-key", tmp_path / "hospital-a" / "hospital-a.key", "--tls", tls["hospital-a"]]
    try:
        output = _ok("consortium", "admit", cards["hospital-c"], "--hub", url, *operator)
        assert (
            f"admitted hospital-c (site, key {load_card(cards['hospital-c']).key_id}): entry 1 at"
            in output
        )
        # a site may not remove another member: the hub refuses it, naming the entry
        code, output = _run(
            "consortium", "remove", "hospital-b", "--reason", "x", "--hub", url, *site
        )
        assert (
            code == LedgerError.exit_code
            and "must be signed by the hub or a genesis operator" in output
        )
        output = _ok(
            "consortium", "remove", "hospital-b", "--reason", "left", "--hub", url, *operator
        )
        assert "removed hospital-b: entry 2 at" in output
        # the same path records a certificate revocation (ca revoke --hub)
        crt, out = tls["hospital-a"] / "hospital-a.crt", tmp_path / "revoke.json"
        output = _ok("ca", "revoke", crt, "--reason", "lost", "--out", out, "--hub", url, *operator)
        assert "recorded on the hub's ledger as entry 3" in output
    finally:
        stop()
        ledger.close()
    hubdir = tmp_path / "hubdir"
    verified = _ok("ledger", "verify", hubdir / "ledger.sqlite", "--anchor", hubdir / "anchor.json")
    assert "certificate.revoke 1" in verified and "member.admitted 1, member.removed 1" in verified
    assert set(_registry(hubdir).members()) == {
        "hub",
        "ca-office",
        "lab",
        "hospital-a",
        "hospital-c",
    }


def test_the_ca_signs_a_card(tmp_path: Path) -> None:
    cards = _members(tmp_path)
    _ok("ca", "init", "--out", tmp_path / "ca", "--consortium", "hcc")
    card = cards["hospital-a"]
    output = _ok("ca", "sign", card, "--ca", tmp_path / "ca", "--out", tmp_path / "tls")
    assert "org:         hospital-a" in output and (tmp_path / "tls" / "hospital-a.crt").exists()
    code, output = _run(
        "ca", "sign", card, "--ca", tmp_path / "ca", "--out", tmp_path / "tls", "--org", "lab"
    )
    assert code == KeyFileError.exit_code and "expected 'lab'" in output
