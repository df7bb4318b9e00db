"""``GET /v1/status``: what a long-running hub is doing, for any member (mutual TLS).

Members, sites (their dataset ids, tasks waiting for them, seconds since their last
request), and every run: its state (``waiting for approval`` with the sites it waits on,
``running`` with the step and round, ``finished``, ``failed``, ``rejected``). Ids, states
and counts only; never a figure of a patient. ``accord status --hub URL`` prints it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from accord.net import Caller

__all__ = ["STATUS_PATH", "status_router"]

STATUS_PATH = "/v1/status"


def status_router(status: Callable[[], dict[str, Any]]) -> APIRouter:
    router = APIRouter()

    @router.get(STATUS_PATH)
    async def get_status(org: Caller) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(status))

    return router
