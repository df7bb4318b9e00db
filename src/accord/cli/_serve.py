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

    from accord.services import serve_site

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    guarded(debug, lambda: serve_site(config, stop, poll_wait_s=poll_wait))


@hub_app.command("serve")
def hub_serve(
    config: Annotated[Path, typer.Option("--config", help="The hub's hub.toml.")],
    debug: DebugOpt = False,
) -> None:
    """Serve the consortium over mutual TLS and run the configured study; a hub started
    again after a crash resumes its plan from the last completed round."""
    import logging

    from accord.services import read_hub_config, serve_hub

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    def action() -> None:
        document = serve_hub(read_hub_config(config))
        typer.echo(f"results: {read_hub_config(config).run / 'results.json'}")
        typer.echo(f"methods: {', '.join(document['methods'])}")

    guarded(debug, action)
