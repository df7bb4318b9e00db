"""Governance commands: ``site functions|approve|reject``, ``submit``, ``status`` and
``audit`` (the ``consortium`` commands are in :mod:`accord.cli._consortium`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from accord.cli._errors import guarded
from accord.cli._members import enroll_site
from accord.cli._remote import dataset_app, is_url, remote_status, remote_submit
from accord.cli._serve import site_prune, site_serve
from accord.cli._summary import print_summary
from accord.core import AggregationError, ConfigError, EquivocationError, LedgerError, PolicyError
from accord.ledger import EVIDENCE_DIR, Entry, find_evidence, load_evidence, open_source
from accord.studies import resolve_study, write_json_atomic

if TYPE_CHECKING:
    from accord.fl.governance import GovernanceView
    from accord.studies import RunLedger

# The workspace, governance and simulation code (accord.fl, accord.services and most of
# accord.studies) import torch and pandas: they are imported in the commands that use
# them, so that `accord --help` and the ledger-only commands start fast.

__all__ = ["audit", "site_app", "status", "submit"]

console = Console(soft_wrap=True)
site_app = typer.Typer(help="A site's data-owner commands: review and approve functions.")
site_app.command("enroll")(enroll_site)
site_app.command("serve")(site_serve)
site_app.add_typer(dataset_app, name="dataset")
site_app.command("prune")(site_prune)
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
STATES = ("dispatched", "accepted", "completed", "refused", "failed")
HubOpt = Annotated[
    str, typer.Option("--hub", help="consortium workspace folder, or the hub's https:// URL")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="with --hub URL: this site's site.toml")
]
SiteOpt = Annotated[str, typer.Option("--site", help="this site's name in the workspace")]
RemoteConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="with --hub URL: your researcher.toml")
]


def _site_view(hub: str, site: str) -> tuple[Any, GovernanceView, str]:
    from accord.studies import open_workspace, resolve_hub

    run, configs = open_workspace(resolve_hub(hub))
    if site not in configs:
        raise ConfigError(f"--site {site}: no such site in the workspace")
    return run, run.view(site), configs[site].dataset


@site_app.command("functions")
def functions(
    hub: HubOpt, site: SiteOpt, config: ConfigOpt = None, debug: DebugOpt = False
) -> None:
    """Functions awaiting this site's decision, with a diff against the last approved one."""

    def action() -> None:
        if hub.startswith(("https://", "http://")):
            from accord.services import remote_governance

            if config is None:
                raise ConfigError("--hub URL: give the site's --config site.toml")
            with remote_governance(config, site) as (governance, _):
                _print_pending(governance.view(), site)
            return
        run, view, _ = _site_view(hub, site)
        _print_pending(view, site)
        run.close()

    guarded(debug, action)


def _print_pending(view: GovernanceView, site: str) -> None:
    """Each function awaiting a decision: what it runs, then what changed since the last
    function this site approved for the dataset."""
    from accord.fl.governance import archive_diff, archive_summary

    pending = view.pending_functions(site)
    if not pending:
        console.print(f"{site}: no function awaits a decision")
    for function, dataset in pending:
        console.print(
            f"[bold]{function.hash}[/]  {function.name} by {function.author} "
            f"(entry {function.seq}) for dataset {dataset}"
            + ("" if function.intact else "  [red]ARCHIVE DOES NOT MATCH ITS HASH[/]")
        )
        for line in archive_summary(function.archive):
            console.print(f"    {line}", highlight=False, markup=False)
        previous = view.previous_approved(site, dataset, function)
        since = f" since {previous.hash[:12]}, the last you approved" if previous else ""
        console.print(f"  changes{since}:", highlight=False, markup=False)
        for line in archive_diff(previous.archive if previous else None, function.archive):
            console.print(f"    {line}", highlight=False, markup=False)


def _decide(
    hub: str,
    site: str,
    prefix: str,
    dataset: str | None,
    reason: str | None,
    config: Path | None = None,
) -> None:
    if hub.startswith(("https://", "http://")):
        from accord.services import decide_remote

        if config is None:
            raise ConfigError("--hub URL: give the site's --config site.toml (key and TLS files)")
        seq, kind, function, ds = decide_remote(config, site, prefix, dataset, reason)
        console.print(f"{site}: {kind} {function[:12]} for {ds} (entry {seq})")
        return
    run, view, own = _site_view(hub, site)
    matches = [h for h in view.functions if h.startswith(prefix)] if len(prefix) >= 8 else []
    if len(matches) != 1:
        raise ConfigError(f"HASH {prefix}: matches {len(matches)} registered functions")
    payload: dict[str, Any] = {"function": matches[0], "dataset": dataset or own}
    kind = "function.approved" if reason is None else "function.rejected"
    if reason is not None:
        payload["reason"] = reason
    seq = run.ledger.record(run.sites[site], kind, payload).seq
    run.seal()
    run.close()
    console.print(f"{site}: {kind} {matches[0][:12]} for {payload['dataset']} (entry {seq})")


@site_app.command("approve")
def approve(
    function: Annotated[str, typer.Argument(help="function hash (at least 8 hex digits)")],
    hub: HubOpt,
    site: SiteOpt,
    dataset: Annotated[str | None, typer.Option("--dataset")] = None,
    config: ConfigOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Approve a function for this site's dataset (a ledger entry signed by the site).

    ``--hub`` is the consortium workspace, or the hub's URL with ``--config site.toml``."""
    guarded(debug, lambda: _decide(hub, site, function, dataset, None, config))


@site_app.command("reject")
def reject(
    function: Annotated[str, typer.Argument(help="function hash (at least 8 hex digits)")],
    hub: HubOpt,
    site: SiteOpt,
    why: Annotated[str, typer.Option("--why", help="the reason, recorded in the ledger")],
    dataset: Annotated[str | None, typer.Option("--dataset")] = None,
    config: ConfigOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Reject a function for this site's dataset, with the reason on the ledger."""
    guarded(debug, lambda: _decide(hub, site, function, dataset, why, config))


def _task_states(entries: list[Entry], plan: str) -> dict[str, Counter[str]]:
    states: dict[str, Counter[str]] = {}
    for e in entries:
        if e.payload.get("plan") == plan and e.kind.startswith("task."):
            site = str(e.payload.get("site"))
            states.setdefault(site, Counter())[e.kind.removeprefix("task.")] += 1
    return states


def status(
    hub: HubOpt,
    plan: Annotated[str | None, typer.Argument(help="a plan (or submitted run) id")] = None,
    config: RemoteConfigOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="with --hub URL: print the hub's status as JSON")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """A running hub (--hub URL --config researcher.toml): its members, sites (who is late)
    and plans (waiting for approval, running: step and round, finished). A workspace
    folder: each site's task states for PLAN (refusals and their reasons included).

    A site that holds equivocation evidence against the hub is listed as EQUIVOCATION
    with its evidence files, and the command exits 10 (EquivocationError)."""

    def action() -> None:
        if is_url(hub):
            remote_status(plan, hub, config, as_json)
            return
        if plan is None:
            raise ConfigError("PLAN: give the plan id (a workspace folder holds many)")
        from accord.studies import resolve_hub

        folder = resolve_hub(hub)
        held = _equivocation_lines(folder)
        for line in held:
            console.print(line, highlight=False, markup=False)
        try:
            _print_status(folder, plan)
        except ConfigError:
            if not held:
                raise
        if held:
            raise EquivocationError(
                f"{len(held)} evidence file(s): the hub showed sites conflicting histories; "
                "check each with `accord ledger verify --evidence FILE --anchor anchor.json`"
            )

    guarded(debug, action)


def _equivocation_lines(folder: Path) -> list[str]:
    """One ``EQUIVOCATION`` line per evidence file a workspace site holds."""
    lines = []
    sites = sorted(p for p in (folder / "sites").glob("*") if p.is_dir())
    for site in sites:
        for path in find_evidence(site / EVIDENCE_DIR):
            try:
                found = load_evidence(path)
                what = f"{found.kind}, sizes {' and '.join(str(s) for s in found.sizes)}"
            except LedgerError:
                what = "unreadable evidence file"
            lines.append(f"EQUIVOCATION: site {site.name} holds evidence ({what}): {path}")
    return lines


def _print_status(folder: Path, plan: str) -> None:
    source = open_source(folder / "ledger.sqlite")
    entries = [Entry.parse(s.entry) for s in source.entries()]
    source.close()
    submitted = [e for e in entries if e.kind == "plan.submitted" and e.payload["plan"] == plan]
    if not submitted:
        raise ConfigError(f"PLAN {plan}: not on the ledger")
    reasons = {
        str(e.payload.get("site")): str(e.payload.get("reason"))
        for e in entries
        if e.kind == "task.refused" and e.payload.get("plan") == plan
    }
    table = Table(title=f"{plan} ({submitted[0].payload.get('method')})")
    for column in ("site", *STATES):
        table.add_column(column)
    for site, c in sorted(_task_states(entries, plan).items()):
        table.add_row(site, *[str(c[k]) for k in STATES])
    console.print(table)
    for site, reason in sorted(reasons.items()):
        console.print(f"{site} refused: {reason}", highlight=False, markup=False)


def audit(
    dataset: Annotated[str, typer.Option("--dataset", help="dataset id")],
    path: Annotated[Path, typer.Argument(help="ledger.sqlite or an exported bundle")],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="the site's site.toml: show the dataset's ε budget left"),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Every operation on a dataset — who, which function, when, outcome — from the ledger,
    and the differential privacy each plan spent on it (with --config: the budget left)."""

    def action() -> None:
        source = open_source(path)
        table = Table(title=f"operations on {dataset}")
        for column in ("seq", "time", "org", "operation", "plan", "function", "outcome"):
            table.add_column(column)
        entries: list[Entry] = []
        try:
            for stored in source.entries():
                e = Entry.parse(stored.entry)
                entries.append(e)
                if not _touches(e, dataset):
                    continue
                fn = str(e.payload.get("function", ""))[:12]
                table.add_row(
                    str(e.seq),
                    e.time,
                    e.org,
                    e.kind,
                    str(e.payload.get("plan", "")),
                    fn,
                    _outcome(e),
                )
        finally:
            source.close()
        console.print(table)
        _print_privacy(entries, dataset, config)

    guarded(debug, action)


def _print_privacy(entries: list[Entry], dataset: str, config: Path | None) -> None:
    """ε charged per plan (the larger of declared and recorded) and, with the site's
    config, the dataset's budget and what remains of it."""
    from decimal import Decimal

    from accord.fl import plan_charges
    from accord.fl.governance import load_site_policy

    plans = {str(e.payload.get("plan")): e.payload for e in entries if e.kind == "plan.submitted"}
    owners = {  # only the dataset's own site records what its rows spent
        e.org
        for e in entries
        if e.kind == "dataset.registered" and e.payload.get("dataset") == dataset
    }
    completions = [e for e in entries if e.kind == "task.completed" and e.org in owners]
    declared = {plan: p.get("dp_epsilon") for plan, p in plans.items()}
    charges = plan_charges(completions, dataset, declared)
    table = Table(title=f"differential privacy spent on {dataset}")
    for column in ("plan", "method", "declared ε", "recorded ε", "charged ε", "by"):
        table.add_column(column)
    total = Decimal(0)
    for plan, charge in charges.items():
        recorded = max(charge.recorded.values()) if charge.recorded else None
        table.add_row(
            plan,
            str(plans.get(plan, {}).get("method", "")),
            "" if charge.declared is None else f"{charge.declared:.4f}",
            "" if recorded is None else f"{recorded:.4f}",
            f"{charge.charged:.4f}",
            charge.accountant,
        )
        total += Decimal(str(charge.charged))
    console.print(table)
    line = f"ε spent on {dataset}: {total:.4f} over {len(charges)} plans (basic composition)"
    if config is not None:
        budget = load_site_policy(config).epsilon_budget.get(dataset)
        if budget is None:
            line += f"; {config} sets no budget for it"
        else:
            line += f"; budget {budget}, remaining {budget - total:.4f}"
    console.print(line, highlight=False, markup=False)


def _touches(e: Entry, dataset: str) -> bool:
    if e.payload.get("dataset") == dataset:
        return True
    return e.kind in ("plan.submitted", "model.registered") and dataset in (
        e.payload.get("datasets") or []
    )


def _outcome(e: Entry) -> str:
    if e.kind == "task.refused":
        return f"refused: {e.payload.get('reason')}"
    if e.kind == "task.failed":
        return f"failed: {e.payload.get('error')}"
    if e.kind == "function.rejected":
        return f"rejected: {e.payload.get('reason')}"
    return {"task.completed": "completed", "task.accepted": "accepted"}.get(e.kind, "")


def _last_plan(run: RunLedger) -> str:
    plans = list(run.ledger.store.find(kind="plan.submitted"))
    return str(Entry.parse(plans[-1].entry).payload["plan"]) if plans else "?"


def submit(
    study: Annotated[str, typer.Argument(help="study TOML file or built-in name")],
    hub: HubOpt,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    config: RemoteConfigOpt = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="with --hub URL: a dataset id to run on; repeat"),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Submit a study. To a running hub (--hub URL --config researcher.toml): sign it from
    your machine; the hub runs it once every data owner approved (follow it with
    ``accord status``, fetch it with ``accord results``). To a workspace folder: register
    the function, submit the plan and run it at the sites now.

    Each site checks its own policy first (approval, permissions, cohort size, ...); a
    refusal is signed on the ledger and shown by ``accord status PLAN``.
    """

    def action() -> None:
        if is_url(hub):
            remote_submit(study, hub, config, seed, dataset or [])
            return
        from accord.studies import (
            Simulation,
            open_workspace,
            resolve_hub,
            results_document,
            write_model_files,
        )

        folder = resolve_hub(hub)
        spec = resolve_study(study)
        run, configs = open_workspace(folder)
        data = next((c.data for c in configs.values() if c.data is not None), None)
        try:
            sim = Simulation.prepare(spec, data, seed, audit=run)
            result = sim.run.federated()
            models = write_model_files(sim.run, [result], folder / "runs" / sim.run.plan.plan_id)
            document = results_document(sim.run, [result], notes=sim.cohort.notes, models=models)
        except AggregationError as exc:
            plan = _last_plan(run)
            raise PolicyError(
                f"plan {plan} did not run: {exc}; see `accord status {plan} --hub {hub}`"
            ) from None
        finally:
            run.seal()
            run.close()
        plan = sim.run.plan.plan_id
        out = folder / "runs" / plan
        write_json_atomic(out / "results.json", document)
        print_summary(console, f"{spec.study.name}: plan {plan}", [result])
        console.print(f"results: {out / 'results.json'}")

    guarded(debug, action)
