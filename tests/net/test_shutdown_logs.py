"""A hub stopping with a request in flight logs one INFO line, not a CancelledError traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from accord.net._http_server import start_in_thread


def test_a_request_cut_at_shutdown_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    entered = threading.Event()

    async def slow(request: Request) -> JSONResponse:
        entered.set()
        await asyncio.sleep(30)  # a long poll: cancelled once graceful_s has passed
        return JSONResponse({})

    url, stop = start_in_thread(Starlette(routes=[Route("/slow", slow)]), insecure=True)

    def poll() -> None:
        with contextlib.suppress(httpx.HTTPError):  # cut by the shutdown: expected
            httpx.get(f"{url}/slow", timeout=10)

    client = threading.Thread(target=poll, daemon=True)
    with caplog.at_level(logging.INFO):
        client.start()
        assert entered.wait(10)
        stop()
        client.join(10)
    records = [r for r in caplog.records if r.name == "uvicorn.error"]
    assert "a request in flight was cut at shutdown" in [r.getMessage() for r in records]
    # INFO: printed nowhere when logging is not configured (logging's last resort: WARNING+)
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
