"""Mutual TLS 1.3 over loopback with consortium certificates, and the --insecure guard."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from accord.core import AuthError, ConfigError, KeyFileError
from accord.crypto import (
    PASSPHRASE_ENV,
    PeerCertificate,
    TLSFiles,
    authenticate_peer,
    check_insecure_bind,
    client_context,
    enroll,
    init_ca,
    load_ca_certificate,
    server_context,
    sign_request,
)

TIMEOUT_S = 5.0


def _member(root: Path, org: str, hosts: tuple[str, ...] = ()) -> TLSFiles:
    """CA in ``root/ca`` (created once); ``org``'s key and certificate in ``root/org``."""
    ca = root / "ca"
    if not (ca / "ca.crt").exists():
        init_ca(ca, root.name)
    _, csr = enroll(root / org, org, hosts=hosts)
    sign_request(ca, csr, root / org)
    (root / org / "ca.crt").write_bytes((ca / "ca.crt").read_bytes())
    return TLSFiles.for_org(root / org, org)


@dataclass
class Consortium:
    hub: TLSFiles
    site: TLSFiles
    rogue_hub: TLSFiles
    rogue_site: TLSFiles
    ca: x509.Certificate


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Consortium:
    ours = tmp_path_factory.mktemp("consortium")
    theirs = tmp_path_factory.mktemp("rogue")
    return Consortium(
        hub=_member(ours, "hub", ("127.0.0.1", "localhost")),
        site=_member(ours, "hospital-a"),
        rogue_hub=_member(theirs, "hub", ("127.0.0.1",)),
        rogue_site=_member(theirs, "hospital-a"),
        ca=load_ca_certificate(ours / "ca" / "ca.crt"),
    )


def _server(files: TLSFiles) -> ssl.SSLContext:
    return server_context(files.cert, files.key, files.ca)


def _client(files: TLSFiles, ca: Path | None = None) -> ssl.SSLContext:
    return client_context(files.cert, files.key, ca or files.ca)


@dataclass
class Outcome:
    server_peer: PeerCertificate | None = None
    server_error: BaseException | None = None
    client_peer: PeerCertificate | None = None
    client_error: BaseException | None = None
    client_reply: bytes | None = None
    version: str | None = None


def _serve(
    listener: socket.socket,
    context: ssl.SSLContext,
    ca: x509.Certificate,
    revoked: Collection[int],
    outcome: Outcome,
) -> None:
    try:
        conn, _ = listener.accept()
        conn.settimeout(TIMEOUT_S)
        with context.wrap_socket(conn, server_side=True) as tls:
            outcome.server_peer = authenticate_peer(tls, ca, revoked)
            tls.recv(4)
            tls.sendall(b"pong")
    except (OSError, AuthError) as exc:  # ssl.SSLError is an OSError
        outcome.server_error = exc


def _connect(
    server: ssl.SSLContext,
    client: ssl.SSLContext,
    ca: x509.Certificate,
    *,
    hostname: str = "127.0.0.1",
    revoked: Collection[int] = (),
) -> Outcome:
    """One ping/pong over loopback; every failure on either side is captured, not raised."""
    outcome = Outcome()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT_S)
        thread = threading.Thread(target=_serve, args=(listener, server, ca, revoked, outcome))
        thread.start()
        try:
            port = listener.getsockname()[1]
            with (
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as raw,
                client.wrap_socket(raw, server_hostname=hostname) as tls,
            ):
                outcome.version = tls.version()
                outcome.client_peer = authenticate_peer(tls, ca, expected_org="hub")
                tls.sendall(b"ping")
                outcome.client_reply = tls.recv(4)
        except (OSError, AuthError) as exc:
            outcome.client_error = exc
        finally:
            thread.join(TIMEOUT_S)
    assert not thread.is_alive()
    return outcome


def test_mutual_tls13_handshake(consortium: Consortium) -> None:
    outcome = _connect(_server(consortium.hub), _client(consortium.site), consortium.ca)
    assert outcome.server_error is None and outcome.client_error is None
    assert outcome.version == "TLSv1.3"
    assert outcome.client_reply == b"pong"
    assert outcome.server_peer is not None and outcome.server_peer.org == "hospital-a"
    assert outcome.client_peer is not None and outcome.client_peer.org == "hub"


def test_localhost_name_is_accepted(consortium: Consortium) -> None:
    outcome = _connect(
        _server(consortium.hub), _client(consortium.site), consortium.ca, hostname="localhost"
    )
    assert outcome.client_reply == b"pong", outcome


def _refused_by_client_side(outcome: Outcome) -> bool:
    """In TLS 1.3 the client learns of a refusal on its first read: an alert or a closed pipe."""
    return outcome.client_error is not None or outcome.client_reply in (None, b"")


def test_client_without_certificate_is_refused(consortium: Consortium) -> None:
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bare.load_verify_locations(cafile=consortium.site.ca)
    outcome = _connect(_server(consortium.hub), bare, consortium.ca)
    assert isinstance(outcome.server_error, ssl.SSLError)
    assert outcome.server_peer is None
    assert _refused_by_client_side(outcome)


def test_client_from_other_ca_is_refused(consortium: Consortium) -> None:
    # the rogue site trusts the real CA (so it accepts the hub) but holds a foreign certificate
    rogue = _client(consortium.rogue_site, ca=consortium.site.ca)
    outcome = _connect(_server(consortium.hub), rogue, consortium.ca)
    assert isinstance(outcome.server_error, ssl.SSLError)
    assert "certificate" in str(outcome.server_error).lower()
    assert outcome.server_peer is None
    assert _refused_by_client_side(outcome)


def test_hub_from_other_ca_is_refused(consortium: Consortium) -> None:
    outcome = _connect(_server(consortium.rogue_hub), _client(consortium.site), consortium.ca)
    assert isinstance(outcome.client_error, ssl.SSLCertVerificationError)
    assert outcome.client_peer is None


def test_wrong_host_name_is_refused(consortium: Consortium) -> None:
    outcome = _connect(
        _server(consortium.hub), _client(consortium.site), consortium.ca, hostname="other.example"
    )
    assert isinstance(outcome.client_error, ssl.SSLCertVerificationError)


def test_revoked_client_is_refused_after_handshake(consortium: Consortium) -> None:
    serial = load_serial(consortium.site.cert)
    outcome = _connect(
        _server(consortium.hub), _client(consortium.site), consortium.ca, revoked={serial}
    )
    assert isinstance(outcome.server_error, AuthError)
    assert "has been revoked" in str(outcome.server_error)
    assert outcome.client_reply != b"pong"


def load_serial(cert: Path) -> int:
    return x509.load_pem_x509_certificate(cert.read_bytes()).serial_number


def test_context_settings(consortium: Consortium) -> None:
    server, client = _server(consortium.hub), _client(consortium.site)
    for context in (server, client):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_3
        assert context.verify_mode == ssl.CERT_REQUIRED
    assert client.check_hostname is True


def test_tls_files_for_org(tmp_path: Path) -> None:
    files = TLSFiles.for_org(tmp_path, "hospital-a")
    assert files == TLSFiles(
        cert=tmp_path / "hospital-a.crt",
        key=tmp_path / "hospital-a.tls.key",
        ca=tmp_path / "ca.crt",
    )


def test_encrypted_key_needs_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "s3cret")
    files = _member(tmp_path, "hospital-b")
    assert files.key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert isinstance(_client(files), ssl.SSLContext)
    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(KeyFileError, match=rf"{files.key}: the private key is encrypted"):
        _client(files)
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        _server(files)


def test_bad_files_are_named(tmp_path: Path, consortium: Consortium) -> None:
    site, hub = consortium.site, consortium.hub
    with pytest.raises(KeyFileError, match=rf"{hub.key}: does not match the certificate"):
        server_context(site.cert, hub.key, site.ca)
    missing = tmp_path / "nope.crt"
    with pytest.raises(KeyFileError, match=rf"{missing}: no such certificate file"):
        client_context(missing, site.key, site.ca)
    with pytest.raises(KeyFileError, match=rf"{site.cert}: is not a CA certificate"):
        client_context(site.cert, site.key, site.cert)
    loose = tmp_path / "loose.key"
    loose.write_bytes(site.key.read_bytes())
    loose.chmod(0o644)
    with pytest.raises(KeyFileError, match=rf"{loose}: permissions 0644 are too open"):
        client_context(site.cert, loose, site.ca)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_insecure_bind_accepts_loopback(host: str) -> None:
    check_insecure_bind(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "::", "", "hub.example.org"])
def test_insecure_bind_refuses_other_addresses(host: str) -> None:
    with pytest.raises(ConfigError, match="--insecure exists only for local tests and refuses"):
        check_insecure_bind(host)
