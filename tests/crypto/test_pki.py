"""The consortium PKI: CA, enrolment, signing, peer checks and revocation entries."""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from accord.core import AuthError, ConfigError, KeyFileError, LedgerError
from accord.crypto import (
    CERT_REVOKE,
    PASSPHRASE_ENV,
    PeerCertificate,
    check_peer,
    revocation_payload,
    revoked_serials,
)
from accord.crypto._ca import MAX_CERT_DAYS, enroll, init_ca, renew, sign_request
from accord.crypto._certfile import load_ca_certificate, load_private_key
from accord.ledger import _registry as registry


@dataclass(frozen=True)
class Issued:
    ca: x509.Certificate
    cert: x509.Certificate
    der: bytes
    folder: Path


def _der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )


def _issue(root: Path, org: str = "hospital-a", *, consortium: str = "hcc consortium") -> Issued:
    ca_folder = root / "ca"
    if not (ca_folder / "ca.crt").exists():
        init_ca(ca_folder, consortium)
    site = root / org
    _, csr = enroll(site, org, hosts=("127.0.0.1", "Hub.Example.org"))
    crt = sign_request(ca_folder, csr, site)
    der = _der(crt)
    ca = load_ca_certificate(ca_folder / "ca.crt")
    return Issued(ca=ca, cert=x509.load_der_x509_certificate(der), der=der, folder=site)


@pytest.fixture
def issued(tmp_path: Path) -> Issued:
    return _issue(tmp_path)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- round trip --------------------------------------------------------------------------


def test_round_trip_verifies(issued: Issued) -> None:
    peer = check_peer(issued.der, issued.ca, expected_org="hospital-a")
    assert peer == PeerCertificate(
        org="hospital-a",
        serial=issued.cert.serial_number,
        fingerprint=hashlib.sha256(issued.der).hexdigest(),
        not_after=issued.cert.not_valid_after_utc,
    )
    lifetime = peer.not_after - datetime.now(UTC)
    assert timedelta(days=29) < lifetime <= timedelta(days=30)


def test_file_names_and_modes(tmp_path: Path) -> None:
    issued = _issue(tmp_path)
    assert _mode(tmp_path / "ca" / "ca.key") == 0o600
    assert _mode(tmp_path / "ca" / "ca.crt") == 0o644
    assert _mode(issued.folder / "hospital-a.tls.key") == 0o600
    assert _mode(issued.folder / "hospital-a.csr") == 0o644
    assert _mode(issued.folder / "hospital-a.crt") == 0o644
    leftovers = [p.name for p in tmp_path.rglob(".*")]
    assert leftovers == []


def test_certificate_profile(issued: Issued) -> None:
    cert, ext = issued.cert, issued.cert.extensions
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        assert [a.value for a in cert.subject.get_attributes_for_oid(oid)] == ["hospital-a"]
    assert cert.issuer == issued.ca.subject
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    ski = issued.ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert aki == ski
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["hub.example.org"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"


def test_site_without_hosts_has_no_alternative_names(tmp_path: Path) -> None:
    init_ca(tmp_path / "ca", "hcc")
    _, csr = enroll(tmp_path / "s", "site-b")
    cert = x509.load_pem_x509_certificate(sign_request(tmp_path / "ca", csr, tmp_path).read_bytes())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_renew_issues_new_serial_for_same_key(tmp_path: Path, issued: Issued) -> None:
    again = renew(tmp_path / "ca", issued.folder / "hospital-a.csr", issued.folder, days=7)
    cert = x509.load_pem_x509_certificate(again.read_bytes())
    assert cert.serial_number != issued.cert.serial_number
    assert cert.public_key() == issued.cert.public_key()
    assert cert.not_valid_after_utc < issued.cert.not_valid_after_utc


# --- check_peer refusals -----------------------------------------------------------------


def test_expired_and_not_yet_valid(issued: Issued) -> None:
    later = issued.cert.not_valid_after_utc + timedelta(seconds=1)
    with pytest.raises(AuthError, match=r"serial \d+ of 'hospital-a' has expired"):
        check_peer(issued.der, issued.ca, now=later)
    earlier = issued.cert.not_valid_before_utc - timedelta(days=1)
    with pytest.raises(AuthError, match="not valid yet"):
        check_peer(issued.der, issued.ca, now=earlier)
    naive = datetime.now(UTC).replace(tzinfo=None)
    assert check_peer(issued.der, issued.ca, now=naive).org == "hospital-a"


def test_revoked(issued: Issued) -> None:
    serial = issued.cert.serial_number
    with pytest.raises(AuthError, match=f"serial {serial} of 'hospital-a' has been revoked"):
        check_peer(issued.der, issued.ca, revoked={serial})
    assert check_peer(issued.der, issued.ca, revoked={serial + 1}).serial == serial


def test_other_ca_is_refused(tmp_path: Path, issued: Issued) -> None:
    rogue = _issue(tmp_path / "rogue", "hospital-a", consortium="rogue")
    with pytest.raises(AuthError, match="not issued by the consortium CA"):
        check_peer(rogue.der, issued.ca)


def test_same_name_other_ca_key_is_refused(tmp_path: Path, issued: Issued) -> None:
    """A second CA with the very same subject: the issuer name matches, the signature not."""
    rogue = _issue(tmp_path / "twin", "hospital-a")
    assert rogue.ca.subject == issued.ca.subject
    with pytest.raises(AuthError, match="not issued by the consortium CA"):
        check_peer(rogue.der, issued.ca)


def test_expected_org_mismatch(issued: Issued) -> None:
    with pytest.raises(AuthError, match="is for organisation 'hospital-a'; expected 'hub'"):
        check_peer(issued.der, issued.ca, expected_org="hub")


def test_garbage_and_ca_itself_are_refused(issued: Issued) -> None:
    with pytest.raises(AuthError, match=r"not a valid X\.509 certificate"):
        check_peer(b"\x30\x03junk", issued.ca)
    ca_der = issued.ca.public_bytes(serialization.Encoding.DER)
    with pytest.raises(AuthError, match="is a CA certificate"):
        check_peer(ca_der, issued.ca)


# --- signing refusals --------------------------------------------------------------------


def _tamper(csr: Path, old: bytes, new: bytes) -> None:
    request = x509.load_pem_x509_csr(csr.read_bytes())
    der = request.public_bytes(serialization.Encoding.DER)
    assert der.count(old) >= 1 and len(old) == len(new)
    forged = x509.load_der_x509_csr(der.replace(old, new))
    csr.write_bytes(forged.public_bytes(serialization.Encoding.PEM))


def test_tampered_request_is_refused(tmp_path: Path) -> None:
    init_ca(tmp_path / "ca", "hcc")
    _, csr = enroll(tmp_path / "site", "hospital-a")
    _tamper(csr, b"hospital-a", b"hospital-z")
    with pytest.raises(KeyFileError, match=rf"{csr}: the request's signature does not verify"):
        sign_request(tmp_path / "ca", csr, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_org_option_must_match_request(tmp_path: Path) -> None:
    init_ca(tmp_path / "ca", "hcc")
    _, csr = enroll(tmp_path / "site", "hospital-a")
    with pytest.raises(KeyFileError, match="for organisation 'hospital-a'; expected 'hospital-b'"):
        sign_request(tmp_path / "ca", csr, tmp_path / "site", org="hospital-b")
    with pytest.raises(ConfigError, match="not a valid organisation name"):
        sign_request(tmp_path / "ca", csr, tmp_path / "site", org="Bad Org")
    assert not (tmp_path / "site" / "hospital-a.crt").exists()


def _foreign_request(path: Path, org: str, curve: ec.EllipticCurve) -> Path:
    key = ec.generate_private_key(curve)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def test_request_with_bad_org_or_curve_is_refused(tmp_path: Path) -> None:
    init_ca(tmp_path / "ca", "hcc")
    bad_org = _foreign_request(tmp_path / "bad.csr", "Hospital A!", ec.SECP256R1())
    with pytest.raises(KeyFileError, match=r"bad.csr: the request's subject does not name"):
        sign_request(tmp_path / "ca", bad_org, tmp_path)
    p384 = _foreign_request(tmp_path / "p384.csr", "hospital-a", ec.SECP384R1())
    with pytest.raises(KeyFileError, match=r"p384\.csr: .* expected ECDSA P-256"):
        sign_request(tmp_path / "ca", p384, tmp_path)


def test_bad_files_are_named(tmp_path: Path) -> None:
    init_ca(tmp_path / "ca", "hcc")
    missing = tmp_path / "missing.csr"
    with pytest.raises(KeyFileError, match=rf"{missing}: no such certificate request file"):
        sign_request(tmp_path / "ca", missing, tmp_path)
    text = tmp_path / "notes.csr"
    text.write_text("hello")
    with pytest.raises(KeyFileError, match=rf"{text}: is not a PEM certificate request"):
        sign_request(tmp_path / "ca", text, tmp_path)
    _, csr = enroll(tmp_path / "site", "hospital-a")
    with pytest.raises(KeyFileError, match="no such CA folder"):
        sign_request(tmp_path / "nowhere", csr, tmp_path)
    (tmp_path / "ca" / "ca.key").chmod(0o644)
    with pytest.raises(KeyFileError, match=r"ca.key: permissions 0644 are too open"):
        sign_request(tmp_path / "ca", csr, tmp_path)


def test_load_ca_certificate_refuses_a_site_certificate(issued: Issued) -> None:
    crt = issued.folder / "hospital-a.crt"
    with pytest.raises(KeyFileError, match=rf"{crt}: is not a CA certificate"):
        load_ca_certificate(crt)
    junk = issued.folder / "hospital-a.csr"
    with pytest.raises(KeyFileError, match=rf"{junk}: is not a PEM certificate"):
        load_ca_certificate(junk)


def test_days_are_bounded(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--days 0"):
        init_ca(tmp_path / "ca", "hcc", days=0)
    init_ca(tmp_path / "ca", "hcc")
    _, csr = enroll(tmp_path / "site", "hospital-a")
    with pytest.raises(ConfigError, match=f"from 1 to {MAX_CERT_DAYS}"):
        sign_request(tmp_path / "ca", csr, tmp_path, days=MAX_CERT_DAYS + 1)


def test_certificate_never_outlives_the_ca(tmp_path: Path) -> None:
    init_ca(tmp_path / "ca", "hcc", days=2)
    _, csr = enroll(tmp_path / "site", "hospital-a")
    cert = x509.load_pem_x509_certificate(
        sign_request(tmp_path / "ca", csr, tmp_path, days=30).read_bytes()
    )
    ca = load_ca_certificate(tmp_path / "ca" / "ca.crt")
    assert cert.not_valid_after_utc == ca.not_valid_after_utc


# --- init and enroll ---------------------------------------------------------------------


def test_refuses_to_replace_keys(tmp_path: Path) -> None:
    key, _ = init_ca(tmp_path / "ca", "hcc")
    before = key.read_bytes()
    with pytest.raises(KeyFileError, match=r"ca.key: already exists.*--overwrite"):
        init_ca(tmp_path / "ca", "hcc")
    assert key.read_bytes() == before
    init_ca(tmp_path / "ca", "hcc", overwrite=True)
    assert key.read_bytes() != before
    enroll(tmp_path / "s", "hospital-a")
    with pytest.raises(KeyFileError, match=r"hospital-a.tls.key: already exists"):
        enroll(tmp_path / "s", "hospital-a")


@pytest.mark.parametrize(
    ("org", "hosts", "match"),
    [
        ("Bad Org", (), "not a valid organisation name"),
        ("hub", ("not a host!",), "is not an IP address or DNS name"),
        ("hub", ("-bad.example",), "is not an IP address or DNS name"),
    ],
)
def test_enroll_bad_input_writes_nothing(
    tmp_path: Path, org: str, hosts: tuple[str, ...], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        enroll(tmp_path / "site", org, hosts=hosts)
    assert not (tmp_path / "site").exists()


def test_bad_consortium_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="consortium name"):
        init_ca(tmp_path / "ca", " padded ")
    assert not (tmp_path / "ca").exists()


def test_out_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(KeyFileError, match="is not a folder"):
        init_ca(tmp_path / "file", "hcc")


def test_encrypted_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    key, _ = init_ca(tmp_path / "ca", "hcc")
    site_key, csr = enroll(tmp_path / "site", "hospital-a")
    for path in (key, site_key):
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert sign_request(tmp_path / "ca", csr, tmp_path / "site").exists()
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    with pytest.raises(KeyFileError, match=rf"{key}: cannot decrypt .* wrong passphrase"):
        load_private_key(key)
    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(KeyFileError, match=f"{key}: the private key is encrypted; set"):
        sign_request(tmp_path / "ca", csr, tmp_path / "site")


def test_load_private_key_refuses_other_files(tmp_path: Path, issued: Issued) -> None:
    crt = issued.folder / "hospital-a.crt"
    crt.chmod(0o600)
    with pytest.raises(KeyFileError, match=rf"{crt}: is not a PEM private key"):
        load_private_key(crt)
    with pytest.raises(KeyFileError, match="no such key file"):
        load_private_key(tmp_path / "none.key")


# --- revocation --------------------------------------------------------------------------


def test_revocation_payload_and_replay(issued: Issued) -> None:
    payload = revocation_payload(issued.cert, "  key lost ")
    assert payload == {
        "serial": str(issued.cert.serial_number),
        "org": "hospital-a",
        "fingerprint": hashlib.sha256(issued.der).hexdigest(),
        "reason": "key lost",
    }
    peer = check_peer(issued.der, issued.ca)
    assert revocation_payload(peer, "key lost") == payload
    assert revocation_payload(7, "x") == {
        "serial": "7",
        "org": "",
        "fingerprint": "",
        "reason": "x",
    }
    entries = [("genesis", {"serial": "1"}), (CERT_REVOKE, payload), (CERT_REVOKE, {"serial": 7})]
    revoked = revoked_serials(entries)
    assert revoked == {issued.cert.serial_number, 7}
    with pytest.raises(AuthError, match="revoked"):
        check_peer(issued.der, issued.ca, revoked)


def test_ledger_kind_matches() -> None:
    assert registry.CERT_REVOKE == CERT_REVOKE == "certificate.revoke"


@pytest.mark.parametrize("reason", ["", "   ", "two\nlines", "x" * 201])
def test_revocation_reason_is_one_short_line(issued: Issued, reason: str) -> None:
    with pytest.raises(ConfigError, match="--reason"):
        revocation_payload(issued.cert, reason)


@pytest.mark.parametrize("serial", [None, "12a", "-3", True, 1.5])
def test_malformed_revocation_is_an_error(serial: object) -> None:
    payload = {} if serial is None else {"serial": serial}
    with pytest.raises(LedgerError, match=r"entry 1 \(certificate.revoke\): field 'serial'"):
        revoked_serials([("genesis", {}), (CERT_REVOKE, payload)])
