"""Commands members run against a running hub from their own machine.

``accord site dataset add|list`` (a data owner registers its own dataset),
``accord submit STUDY --hub URL``, ``accord status --hub URL [PLAN]`` and
``accord results PLAN --hub URL --out DIR`` (a researcher, with its researcher.toml).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from accord.cli._errors import guarded
from accord.cli._summary import signed_comparison_line
from accord.core import ConfigError

__all__ = ["dataset_app", "is_url", "remote_status", "remote_submit", "results"]

console = Console(soft_wrap=True, highlight=False)
dataset_app = typer.Typer(help="This site's datasets: register them on the ledger yourself.")
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
SiteConfigOpt = Annotated[Path, typer.Option("--config", help="this site's site.toml")]
ResearcherOpt = Annotated[
    Path | None, typer.Option("--config", help="your researcher.toml (key, TLS, anchor)")
]


def is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def _say(text: str) -> None:
    console.print(text, markup=False)


@dataset_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="dataset name, e.g. hcc (its id: ORG.NAME)")],
    path: Annotated[Path, typer.Option("--path", help="the table, or the folder holding it")],
    config: SiteConfigOpt,
    permit: Annotated[
        list[str], typer.Option("--permit", help="an organisation that may process it; repeat")
    ],
    description: Annotated[str, typer.Option("--description")] = "",
    modality: Annotated[str, typer.Option("--modality", help="clinical, wsi or ct")] = "clinical",
    table: Annotated[str, typer.Option("--table", help="table file in a folder")] = "clinical.csv",
    event_column: Annotated[str, typer.Option("--event-column")] = "event",
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="patient id column (checked unique)")
    ] = None,
    min_cell: Annotated[
        int, typer.Option("--min-cell", min=1, help="counts below this are suppressed")
    ] = 5,
    debug: DebugOpt = False,
) -> None:
    """Register a dataset of this site: its schema and rounded counts, signed by this site."""

    def action() -> None:
        from accord.services import add_dataset

        record, payload = add_dataset(
            config,
            name,
            path,
            permit,
            description=description,
            modality=modality,
            table=table,
            event_column=event_column,
            id_column=id_column,
            min_cell_count=min_cell,
        )
        n = payload["n_patients"]
        _say(f"dataset {record.id} registered (ledger entry {record.seq}), signed by this site")
        _say(
            f"  published: {len(payload['columns'])} columns, patients {_count(n)}, "
            f"events {_count(payload.get('n_events'))}, table sha256 {record.content_hash[:16]}"
        )
        _say(f"  permitted: {', '.join(payload['permissions'])}")

    guarded(debug, action)


def _count(n: int | None) -> str:
    return "—" if n is None else ("suppressed" if n < 0 else f"about {n}")


@dataset_app.command("list")
def list_(config: SiteConfigOpt, debug: DebugOpt = False) -> None:
    """The datasets this site registered, and where their rows are (never sent)."""

    def action() -> None:
        from accord.services import local_datasets, read_service_config

        for dataset in local_datasets(read_service_config(config).folder).values():
            _say(f"{dataset.id}  entry {dataset.seq}  {dataset.path}")

    guarded(debug, action)


def _researcher(config: Path | None) -> Path:
    if config is None:
        raise ConfigError("--hub URL needs --config researcher.toml (your key, TLS and anchor)")
    return config


def remote_submit(
    study: str, hub: str, config: Path | None, seed: int, datasets: list[str]
) -> None:
    from accord.services import submit_study
    from accord.studies import resolve_study

    path = _researcher(config)
    submitted = submit_study(path, resolve_study(study), seed, datasets)
    _say(f"submitted {study} as plan {submitted.run} (ledger entry {submitted.seq})")
    _say(f"  datasets: {', '.join(submitted.datasets)}")
    for method, digest in submitted.functions.items():
        _say(f"  function {digest[:12]} ({method}): each data owner approves it at its site")
    _say(f"follow it: accord status {submitted.run} --hub {hub} --config {path}")


def remote_status(plan: str | None, hub: str, config: Path | None, as_json: bool = False) -> None:
    from accord.services import hub_status

    status = hub_status(_researcher(config))
    runs = status["runs"]
    if plan is not None:
        runs = [r for r in runs if r.get("run") == plan]
        if not runs:
            raise ConfigError(f"PLAN {plan}: the hub knows no run of that id")
    if as_json:
        typer.echo(json.dumps({**status, "runs": runs}, indent=2, sort_keys=True))
        return
    _say(
        f"hub {status.get('hub')}: {len(status.get('members', []))} members, "
        f"ledger size {status.get('log_size')}"
    )
    sites = Table(title="sites")
    for column in ("site", "datasets", "pending tasks", "last seen (s ago)", "late"):
        sites.add_column(column)
    for site, info in sorted(status.get("sites", {}).items()):
        seen = info.get("last_seen_s")
        late = bool(info.get("pending_tasks")) and (seen is None or seen > 30)
        sites.add_row(
            site,
            ", ".join(info.get("datasets", [])),
            str(info.get("pending_tasks")),
            "—" if seen is None else str(seen),
            "LATE" if late else "",
        )
    console.print(sites)
    table = Table(title="plans")
    table.add_column("plan", overflow="fold")
    for column in ("study", "by", "state", "step", "round", "waiting on / why"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            str(run["run"]),
            str(run["study"]),
            str(run["submitted_by"]),
            str(run["state"]),
            str(run.get("step") or ""),
            _round(run),
            ", ".join(run.get("waiting_on") or []) or str(run.get("reason") or ""),
        )
    console.print(table)
    for refusal in status.get("refusals", [])[-5:]:
        _say(f"refused (ledger entry {refusal['seq']}): {refusal['reason']}")


def _round(run: dict[str, Any]) -> str:
    return f"{run.get('round')}/{run.get('rounds')}" if run.get("rounds") else ""


def results(
    plan: Annotated[str, typer.Argument(help="the plan id `accord submit` printed")],
    hub: Annotated[str, typer.Option("--hub", help="the hub's https:// URL")],
    out: Annotated[Path, typer.Option("--out", help="folder for results.json and report.html")],
    config: ResearcherOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Rebuild PLAN's results.json and report.html from the verified ledger alone."""

    def action() -> None:
        from accord.services import fetch_results

        if not is_url(hub):
            raise ConfigError(f"--hub {hub}: expected the hub's https:// URL")
        document = fetch_results(_researcher(config), plan, out)
        _say(f"plan {plan}: {document['status']}")
        for method, figures in document["methods"].items():
            c = figures.get("consortium_cindex")
            _say(
                f"  {method}: consortium C {'—' if c is None else f'{c:.3f}'}"
                f" (ledger entry {figures['ledger'].get('metric_seq', '—')})"
            )
        for row in document.get("comparisons", []):
            _say(f"  {signed_comparison_line(row)}")
        _say(f"results: {out / 'results.json'}")
        _say(f"report:  {out / 'report.html'}")
        _say(json.dumps({"ledger_size": document["ledger"]["size"]}))

    guarded(debug, action)
