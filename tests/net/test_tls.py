"""Mutual TLS: the hub learns who calls from the certificate; no certificate, no connection."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter
from starlette.requests import Request

from accord.core import ConfigError
from accord.crypto import (
    TLSFiles,
    check_peer,
    client_context,
    enroll,
    init_ca,
    load_ca_certificate,
    server_context,
    sign_request,
)
from accord.net import (
    Reply,
    SiteClient,
    Task,
    TaskQueue,
    authenticate_certificate,
    create_app,
    peer_certificate,
    serve,
    start_in_thread,
)
from tests.net.conftest import Serve


class Echo:
    def handle(self, task: Task) -> Reply:
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, weight=2.0)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A consortium CA, the hub's certificate for 127.0.0.1 and hospital-a's certificate."""
    folder = tmp_path_factory.mktemp("pki")
    init_ca(folder, "consortium")
    for org, hosts in (("hub", ["127.0.0.1", "localhost"]), ("hospital-a", [])):
        _, csr = enroll(folder, org, hosts=hosts)
        sign_request(folder, csr, folder)
    return folder


def _context(pki: Path, org: str, server: bool = False) -> ssl.SSLContext:
    files = TLSFiles.for_org(pki, org)
    make = server_context if server else client_context
    return make(files.cert, files.key, files.ca)


def _authenticate(pki: Path) -> object:
    ca = load_ca_certificate(pki / "ca.crt")
    return authenticate_certificate(lambda der: check_peer(der, ca).org)


def test_a_site_with_its_certificate_is_known_by_it(
    pki: Path, serve: Serve, queue: TaskQueue, tmp_path: Path
) -> None:
    router = APIRouter()

    @router.get("/v1/whoami")
    def whoami(request: Request) -> dict[str, str]:
        der = peer_certificate(request)
        return {"der": der.hex() if der else ""}

    url = serve(
        ssl_context=_context(pki, "hub", server=True),
        authenticate=_authenticate(pki),
        routers=[router],
    )
    assert url.startswith("https://127.0.0.1:")
    site_ctx = _context(pki, "hospital-a")
    own = x509.load_pem_x509_certificate((pki / "hospital-a.crt").read_bytes())
    with httpx.Client(base_url=url, verify=site_ctx) as http:
        der = bytes.fromhex(http.get("/v1/whoami").json()["der"])
    assert der == own.public_bytes(serialization.Encoding.DER)

    # the header is ignored under mTLS: the certificate says who calls
    queue.post(Task.build(task_id="t1", plan_id="p", round=0, site="hospital-a", kind="stats"))
    stop = threading.Event()
    with SiteClient(
        url, Echo(), ssl_context=site_ctx, site="someone-else", spool_dir=tmp_path, poll_wait_s=1
    ) as client:
        assert client.step(stop)
    assert queue.replies(["t1"])["t1"].weight == 2.0


def test_a_client_without_a_certificate_is_refused_in_the_handshake(
    pki: Path, serve: Serve
) -> None:
    calls: list[str] = []

    def record(request: Request) -> str:
        calls.append("called")
        return "x"

    url = serve(ssl_context=_context(pki, "hub", server=True), authenticate=record)
    anonymous = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(url + "/v1/tasks/next", params={"wait": 0}, verify=anonymous)
    assert calls == []


def test_plain_http_is_refused_off_loopback_and_without_insecure(queue: TaskQueue) -> None:
    app = create_app(queue, lambda request: "a")
    with pytest.raises(ConfigError, match=r"non-loopback address '0\.0\.0\.0'"):
        start_in_thread(app, host="0.0.0.0", insecure=True)
    with pytest.raises(ConfigError, match=r"non-loopback address '10\.1\.2\.3'"):
        serve(app, "10.1.2.3", 8443, ssl_context=None, insecure=True)
    with pytest.raises(ConfigError, match="needs insecure=True"):
        serve(app, "127.0.0.1", 8443, ssl_context=None)
