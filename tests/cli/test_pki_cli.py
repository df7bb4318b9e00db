"""``accord ca init|sign|show|revoke`` and ``accord site enroll``: output, files, exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from accord.cli import app
from accord.core import ConfigError, KeyFileError
from accord.crypto import check_peer, load_ca_certificate, revoked_serials

runner = CliRunner()


def _run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _enrolled(tmp_path: Path, org: str = "hospital-a", *hosts: str) -> Path:
    assert _run("ca", "init", "--out", tmp_path / "ca", "--consortium", "hcc")[0] == 0
    extra = [arg for host in hosts for arg in ("--host", host)]
    code, output = _run("site", "enroll", "--org", org, "--out", tmp_path / "site", *extra)
    assert code == 0, output
    return tmp_path / "site" / f"{org}.csr"


def _signed(tmp_path: Path) -> Path:
    csr = _enrolled(tmp_path)
    code, output = _run("ca", "sign", csr, "--ca", tmp_path / "ca", "--out", tmp_path / "site")
    assert code == 0, output
    return tmp_path / "site" / "hospital-a.crt"


def test_init_enroll_sign_round_trip(tmp_path: Path) -> None:
    csr = _enrolled(tmp_path, "hub", "127.0.0.1", "hub.example.org")
    code, output = _run(
        "ca", "sign", csr, "--ca", tmp_path / "ca", "--out", tmp_path / "site", "--org", "hub"
    )
    assert code == 0, output
    crt = tmp_path / "site" / "hub.crt"
    der = x509.load_pem_x509_certificate(crt.read_bytes()).public_bytes(Encoding.DER)
    peer = check_peer(der, load_ca_certificate(tmp_path / "ca" / "ca.crt"), expected_org="hub")
    assert f"serial:      {peer.serial}" in output and peer.fingerprint in output
    assert str(crt) in output
    for key in (tmp_path / "ca" / "ca.key", tmp_path / "site" / "hub.tls.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in output


def test_init_and_enroll_messages(tmp_path: Path) -> None:
    code, output = _run("ca", "init", "--out", tmp_path / "ca", "--consortium", "hcc")
    assert code == 0 and "ca.key" in output and "ca.crt" in output and "unencrypted" in output
    code, output = _run("ca", "init", "--out", tmp_path / "ca", "--consortium", "hcc")
    assert code == KeyFileError.exit_code and "already exists" in output
    assert (
        _run("ca", "init", "--out", tmp_path / "ca", "--consortium", "hcc", "--overwrite")[0] == 0
    )
    code, output = _run("site", "enroll", "--org", "hospital-a", "--out", tmp_path / "s")
    assert code == 0 and "hospital-a.tls.key" in output and "hospital-a.csr" in output


def test_show(tmp_path: Path) -> None:
    crt = _signed(tmp_path)
    code, output = _run("ca", "show", crt)
    assert code == 0, output
    assert "org:         hospital-a" in output and "fingerprint:" in output
    assert "valid:" in output and "UTC" in output


def test_revoke_writes_the_ledger_payload(tmp_path: Path) -> None:
    crt = _signed(tmp_path)
    out = tmp_path / "revoke.json"
    code, output = _run("ca", "revoke", crt, "--reason", "laptop stolen", "--out", out)
    assert code == 0, output
    payload = json.loads(out.read_text())
    assert payload["org"] == "hospital-a" and payload["reason"] == "laptop stolen"
    serial = x509.load_pem_x509_certificate(crt.read_bytes()).serial_number
    assert payload["serial"] == str(serial)
    assert revoked_serials([("certificate.revoke", payload)]) == {serial}
    assert "certificate.revoke" in output


def test_bad_reason_writes_nothing(tmp_path: Path) -> None:
    crt = _signed(tmp_path)
    out = tmp_path / "revoke.json"
    code, output = _run("ca", "revoke", crt, "--reason", " ", "--out", out)
    assert code == ConfigError.exit_code and "--reason" in output
    assert not out.exists()


@pytest.mark.parametrize("command", ["show", "revoke", "sign"])
def test_missing_file_is_one_line_naming_it(tmp_path: Path, command: str) -> None:
    (tmp_path / "ca").mkdir()
    missing = tmp_path / "missing.crt"
    extra = {
        "show": [],
        "revoke": ["--reason", "x", "--out", tmp_path / "r.json"],
        "sign": ["--ca", tmp_path / "ca", "--out", tmp_path / "out"],
    }[command]
    code, output = _run("ca", command, missing, *extra)
    assert code == KeyFileError.exit_code
    assert str(missing) in output and "Traceback" not in output
    assert output.count("error:") == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.json").exists()


def test_not_pem_and_wrong_signature(tmp_path: Path) -> None:
    csr = _enrolled(tmp_path)
    text = tmp_path / "note.csr"
    text.write_text("not a request\n")
    code, output = _run("ca", "sign", text, "--ca", tmp_path / "ca", "--out", tmp_path / "out")
    assert code == KeyFileError.exit_code and f"{text}: is not a PEM certificate request" in output
    request = x509.load_pem_x509_csr(csr.read_bytes())
    der = request.public_bytes(Encoding.DER)
    forged = x509.load_der_x509_csr(der.replace(b"hospital-a", b"hospital-x"))
    csr.write_bytes(forged.public_bytes(Encoding.PEM))
    code, output = _run("ca", "sign", csr, "--ca", tmp_path / "ca", "--out", tmp_path / "out")
    assert code == KeyFileError.exit_code and "signature does not verify" in output
    assert str(csr) in output
    assert not (tmp_path / "out").exists()


def test_bad_org_and_org_mismatch(tmp_path: Path) -> None:
    code, output = _run("site", "enroll", "--org", "Bad Org", "--out", tmp_path / "s")
    assert code == ConfigError.exit_code and "not a valid organisation name" in output
    assert not (tmp_path / "s").exists()
    csr = _enrolled(tmp_path)
    code, output = _run(
        "ca", "sign", csr, "--ca", tmp_path / "ca", "--out", tmp_path / "o", "--org", "hospital-b"
    )
    assert code == KeyFileError.exit_code and "expected 'hospital-b'" in output
    assert not (tmp_path / "o").exists()


def test_bad_host_writes_nothing(tmp_path: Path) -> None:
    code, output = _run("site", "enroll", "--org", "hub", "--out", tmp_path / "s", "--host", "a b")
    assert code == ConfigError.exit_code and "--host 'a b'" in output
    assert not (tmp_path / "s").exists()
