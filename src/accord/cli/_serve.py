"""``accord site serve``/``prune`` and ``accord hub serve``/``prune``: sites and hub as
network services, and their retention policies.

A service stops on SIGTERM or Ctrl-C: the first signal sets its stop event (the service
finishes the request in hand, closes its stores and logs one ``stopped`` line, exit code
0); a second one stops the process at once, as without a handler.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from accord.cli._errors import guarded

if TYPE_CHECKING:
    from accord.services import PruneReport

__all__ = ["hub_app", "site_prune", "site_serve"]

hub_app = typer.Typer(help="The consortium hub as a network service.", no_args_is_help=True)

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Only print what would be removed; remove nothing.")
]
_LOG_FORMAT = "%(asctime)s %(name)s %(message)s"


@contextlib.contextmanager
def _service_logging(debug: bool) -> Iterator[None]:
    """INFO (DEBUG with ``--debug``) lines on stderr while a service runs, and the root
    logger as it was afterwards.

    Not ``logging.basicConfig(force=True)``: that leaves its handler on the root logger
    after the command returns, bound to a stream an in-process caller (a test's CliRunner)
    has closed, so every later log line printed "--- Logging error ---". The handlers in
    place (opacus sets one at import) are set aside, not closed, and put back.
    """
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    try:
        yield
    finally:
        handler.flush()
        root.handlers[:] = saved
        root.setLevel(level)


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set; the second signal of a kind acts as by default
    (SIGTERM ends the process, Ctrl-C raises KeyboardInterrupt)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(
            signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.default_int_handler
        )

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

    stop = stop_on_signals()
    with _service_logging(debug):
        guarded(debug, lambda: serve_site(config, stop, poll_wait_s=poll_wait))


def site_prune(
    config: Annotated[Path, typer.Option("--config", help="The site's site.toml.")],
    dry_run: DryRunOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Apply the [retention.spool] policy of site.toml to the site's spool (the cached task
    payloads; never a reply the hub has not acknowledged); print what was removed."""
    from accord.services import prune_site_state, read_service_config

    def action() -> None:
        site = read_service_config(config)
        _print_report(prune_site_state(site.retention, site.folder, dry_run=dry_run))

    guarded(debug, action)


@hub_app.command("serve")
def hub_serve(
    config: Annotated[Path, typer.Option("--config", help="The hub's hub.toml.")],
    debug: DebugOpt = False,
) -> None:
    """Serve the consortium over mutual TLS until SIGTERM/Ctrl-C (exit code 0), running
    every study researchers submit (a simulated hub.toml with a study: run it and exit). A
    hub started again after a crash or a stop resumes each unfinished run from its last
    completed round."""
    from accord.services import read_hub_config, serve_hub

    log = logging.getLogger("accord.hub")
    stop = stop_on_signals()

    def action() -> None:
        hub = read_hub_config(config)
        try:
            document = serve_hub(hub, stop)
        except Exception:
            if not stop.is_set():
                raise
            log.debug("the study stopped with the service", exc_info=True)
            log.info("hub stopped")
            return
        if document is not None:
            typer.echo(f"results: {hub.run / 'results.json'}")
            typer.echo(f"methods: {', '.join(document['methods'])}")

    with _service_logging(debug):
        guarded(debug, action)


@hub_app.command("prune")
def hub_prune(
    config: Annotated[Path, typer.Option("--config", help="The hub's hub.toml.")],
    dry_run: DryRunOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Apply the [retention] policy of hub.toml to the hub's blobs and plan checkpoints
    (never a blob of a round still open, nor the checkpoint of a plan still running);
    print what was removed."""
    from accord.services import prune_hub_state, read_hub_config

    def action() -> None:
        hub = read_hub_config(config)
        ledger = hub.run / "ledger.sqlite"
        report = prune_hub_state(hub.retention, hub.folder, hub.store, ledger, dry_run=dry_run)
        _print_report(report)

    guarded(debug, action)


@hub_app.command("init-store")
def hub_init_store(
    config: Annotated[Path, typer.Option("--config", help="The hub's hub.toml.")],
    debug: DebugOpt = False,
) -> None:
    """Copy the run's SQLite ledger (RUN/ledger.sqlite) into the empty PostgreSQL ledger
    that [store] url names, once, before the hub's first start on the database."""
    from accord.core import ConfigError
    from accord.ledger import open_store
    from accord.services import copy_ledger, read_hub_config

    def action() -> None:
        hub = read_hub_config(config)
        if not hub.store.postgres:
            raise ConfigError(f"{config}: field 'store.url': not set (the ledger is SQLite)")
        source = open_store(hub.run / "ledger.sqlite", create=False)
        try:
            target = hub.store.open_ledger(hub.run / "ledger.sqlite", create=True)
            try:
                count = copy_ledger(source, target)
            finally:
                target.close()
        finally:
            source.close()
        where = f"{hub.store.describe()} (schema {hub.store.ledger_schema})"
        typer.echo(f"copied {count} ledger entries into {where}")

    guarded(debug, action)


def _print_report(report: PruneReport) -> None:
    for line in report.lines():
        typer.echo(line)
