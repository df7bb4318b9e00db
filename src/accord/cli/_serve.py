"""``accord site serve`` and ``accord hub serve``: sites and hub as network services."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from accord.cli._errors import guarded

__all__ = ["hub_app", "site_serve"]

hub_app = typer.Typer(help="The consortium hub as a network service.", no_args_is_help=True)

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]


def _service_process() -> threading.Event:
    """Log INFO lines to stderr (replacing any handler a library installed at import) and
    return the event SIGTERM or Ctrl-C sets: the service stops at its next check."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def site_serve(
    config: Annotated[Path, typer.Option("--config", help="The site's site.toml.")],
    poll_wait: Annotated[
        float, typer.Option("--poll-wait", min=0.5, help="Seconds one long poll may wait.")
    ] = 25.0,
    debug: DebugOpt = False,
) -> None:
    """Serve this site: poll the hub for tasks, check each against the site's policy and
    ledger replica, run it on local data and upload the reply. Stops on SIGTERM/Ctrl-C."""
    from accord.services import serve_site

    stop = _service_process()
    guarded(debug, lambda: serve_site(config, stop, poll_wait_s=poll_wait))


@hub_app.command("serve")
def hub_serve(
    config: Annotated[Path, typer.Option("--config", help="The hub's hub.toml.")],
    debug: DebugOpt = False,
) -> None:
    """Serve the consortium over mutual TLS until SIGTERM/Ctrl-C, running every study
    researchers submit (a simulated hub.toml with a study: run it and exit). A hub started
    again after a crash resumes each unfinished run from its last completed round."""
    from accord.services import read_hub_config, serve_hub

    stop = _service_process()

    def action() -> None:
        settings = read_hub_config(config)
        document = serve_hub(settings, stop)
        if document is not None:
            typer.echo(f"results: {settings.run / 'results.json'}")
            typer.echo(f"methods: {', '.join(document['methods'])}")

    guarded(debug, action)
