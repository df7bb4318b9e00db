"""``accord site serve``: run a site as a process that polls its hub over HTTPS."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from accord.cli.errors import guarded

__all__ = ["site_serve"]

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]


def site_serve(
    config: Annotated[Path, typer.Option("--config", help="The site's site.toml.")],
    poll_wait: Annotated[
        float, typer.Option("--poll-wait", min=0.5, help="Seconds one long poll may wait.")
    ] = 25.0,
    debug: DebugOpt = False,
) -> None:
    """Serve this site: poll the hub for tasks, check each against the site's policy and
    ledger replica, run it on local data and upload the reply. Stops on SIGTERM/Ctrl-C."""
    import logging

    from accord.studies.site_service import serve_site

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    guarded(debug, lambda: serve_site(config, stop, poll_wait_s=poll_wait))
