"""Serving the hub's app with uvicorn, over mutual TLS, with the client certificate in scope.

uvicorn verifies the client certificate during the handshake (the server context
requires one signed by the consortium CA) but does not hand it to the application:
the ASGI TLS extension is not implemented (https://github.com/encode/uvicorn/issues/400,
https://github.com/encode/uvicorn/issues/745; the pull requests are still open). The hub
must know *which* organisation is calling and whether its certificate was revoked, so
:class:`TLSAwareH11Protocol` reads the peer certificate when a connection is made and
adds it to every request's scope as ``scope["extensions"]["tls"]``: ``client_cert``
(DER bytes, accord's own key) and ``client_cert_chain`` (the leaf as PEM, as the ASGI
extension defines it; Python 3.11 cannot give the rest of the chain).
:func:`peer_certificate` reads it back.

uvicorn 0.54 takes a prebuilt ``ssl.SSLContext`` through ``Config.ssl_context_factory``,
so the contexts of :mod:`accord.crypto._tls` are used as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from accord.core import AuthError, ConfigError, TransportError
from accord.crypto import check_insecure_bind

__all__ = [
    "SITE_HEADER",
    "TLSAwareH11Protocol",
    "authenticate_certificate",
    "authenticate_site_header",
    "peer_certificate",
    "serve",
    "start_in_thread",
]

log = logging.getLogger(__name__)

SITE_HEADER = "Accord-Site"  # names the caller in --insecure (loopback) mode only


class TLSAwareH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, adding the TLS client certificate to each request's scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.app = _with_client_cert(self.config.loaded_app, der or None)


def _with_client_cert(app: ASGIApp, der: bytes | None) -> Any:
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []

    async def with_client_cert(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            extensions = scope.get("extensions") or {}
            extensions["tls"] = {"client_cert": der, "client_cert_chain": chain}
            scope["extensions"] = extensions
        await app(scope, receive, send)

    return with_client_cert


def peer_certificate(request: Request) -> bytes | None:
    """The DER certificate the caller presented in the TLS handshake (None over plain HTTP)."""
    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    der = tls.get("client_cert")
    return der if isinstance(der, bytes) else None


def authenticate_certificate(org_of: Callable[[bytes], str]) -> Callable[[Request], str]:
    """An ``authenticate`` for :func:`accord.net._app.create_app` over mutual TLS.

    ``org_of`` maps the caller's DER certificate to its organisation, raising
    :class:`AuthError` when it is foreign or revoked (e.g. ``accord.crypto._peer.check_peer``
    with the current revocation set, then ``.org``).
    """

    def authenticate(request: Request) -> str:
        der = peer_certificate(request)
        if der is None:
            raise AuthError("the caller presented no client certificate")
        return org_of(der)

    return authenticate


def authenticate_site_header(request: Request) -> str:
    """The site named by the ``Accord-Site`` header: for ``--insecure`` loopback runs only."""
    site = request.headers.get(SITE_HEADER, "")
    if not site:
        raise AuthError(f"missing header '{SITE_HEADER}'")
    return site


class _CutAtShutdown(logging.Filter):
    """One INFO line, not an error with a traceback, for a request cut at shutdown.

    After ``graceful_s`` uvicorn cancels the requests still in flight (a site's long poll,
    normally), logs "Cancel N running task(s), timeout graceful shutdown exceeded" and then
    each request as "Exception in ASGI application" with the CancelledError's traceback,
    all at ERROR: every hub stop printed them (through logging's last-resort handler when
    nothing is configured, as in ``accord run``). That cancellation is the expected end of
    a long poll (the site retries), so both become INFO lines without a traceback; with the
    logger at DEBUG (``--debug``) they are left whole.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if log.isEnabledFor(logging.DEBUG):
            return True
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, asyncio.CancelledError):
            record.msg, record.args = "a request in flight was cut at shutdown", ()
            record.exc_info, record.exc_text = None, None
        elif "timeout graceful shutdown exceeded" not in str(record.msg):
            return True
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


_CUT_AT_SHUTDOWN = _CutAtShutdown()
logging.getLogger("uvicorn.error").addFilter(_CUT_AT_SHUTDOWN)


class _Server(uvicorn.Server):
    """uvicorn's server, telling a ``threading.Event`` once it listens."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event | None) -> None:
        super().__init__(config)
        self.ready = ready
        self.port: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT start a graceful shutdown, after which :func:`serve` returns.

        uvicorn's own version re-raises the signal afterwards (ending the process before
        the caller can close its queue); the hub returns and exits normally instead.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            listening = self.servers[0].sockets
            self.port = int(listening[0].getsockname()[1]) if listening else None
            if self.ready is not None:
                self.ready.set()


def _build(
    app: ASGIApp,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    insecure: bool,
    ready: threading.Event | None,
    graceful_s: float,
) -> _Server:
    if ssl_context is None:
        if not insecure:
            raise ConfigError("serving without TLS needs insecure=True (--insecure)")
        check_insecure_bind(host)
    elif insecure:
        raise ConfigError("give either an SSL context or insecure=True, not both")
    context = ssl_context

    def factory(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        assert context is not None  # the factory is only set with a context
        return context

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=TLSAwareH11Protocol,
        ws="none",
        lifespan="on",
        ssl_context_factory=factory if context is not None else None,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=graceful_s,  # type: ignore[arg-type]  # a float works: wait_for
    )
    return _Server(config, ready)


def serve(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    insecure: bool = False,
    ready: threading.Event | None = None,
    graceful_s: float = 5.0,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT (when called on the main thread), then return.

    Plain HTTP only with ``insecure=True`` on a loopback address (else :class:`ConfigError`).
    ``ready`` is set once the socket listens. Shutdown waits ``graceful_s`` for requests in
    flight (long polls are cut; sites retry).
    """
    server = _build(app, host, port, ssl_context, insecure, ready, graceful_s)
    server.run()


def start_in_thread(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
    insecure: bool = False,
    graceful_s: float = 0.5,
    startup_timeout_s: float = 10.0,
) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` in a daemon thread; returns ``(base_url, stop)``. For tests and simulation.

    ``port=0`` picks a free port. ``stop()`` shuts the server down and waits for the thread.
    """
    ready = threading.Event()
    server = _build(app, host, port, ssl_context, insecure, ready, graceful_s)
    thread = threading.Thread(target=server.run, name=f"accord-hub-{host}:{port}", daemon=True)
    thread.start()
    while not ready.wait(0.05):
        startup_timeout_s -= 0.05
        if not thread.is_alive() or startup_timeout_s <= 0:
            server.should_exit = True
            raise TransportError(f"the hub could not listen on {host}:{port}")

    def stop() -> None:
        server.should_exit = True
        with contextlib.suppress(RuntimeError):
            thread.join()

    scheme = "https" if ssl_context is not None else "http"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{server.port}", stop
