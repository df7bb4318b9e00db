"""``accord``: run federated studies from the command line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar

import typer
from rich.console import Console

import accord
from accord.cli._errors import guarded
from accord.cli._lazy import LazyCommand, LazyGroup, load

if TYPE_CHECKING:
    from accord.cli._progress import RunProgress
    from accord.core import StudySpec
    from accord.services import LoopbackConsortium
    from accord.studies import StudyRun

# Every command but these two lives in its own module, imported only when that command
# runs or shows its --help (see _lazy.py); running a study imports torch, pandas and the
# synthetic-data generators inside the functions that run one.

__all__ = ["app", "main"]


def _hub_app() -> typer.Typer:
    from accord.cli._members import enroll_hub
    from accord.cli._serve import hub_app

    if not any(c.name == "enroll" for c in hub_app.registered_commands):
        hub_app.command("enroll")(enroll_hub)  # here, so the serving module stays as it is
    return hub_app


class _Root(LazyGroup):
    lazy: ClassVar[dict[str, LazyCommand]] = {
        "submit": LazyCommand(
            load("_governance", "submit"), "Submit a study to a hub or a workspace folder."
        ),
        "status": LazyCommand(
            load("_governance", "status"),
            "A hub's members, sites and plans, or a plan's task states.",
        ),
        "audit": LazyCommand(
            load("_governance", "audit"),
            "Every operation on a dataset and the privacy each plan spent.",
        ),
        "results": LazyCommand(
            load("_remote", "results"),
            "Rebuild a plan's results.json and report.html from the ledger.",
        ),
        "predict": LazyCommand(
            load("_predict", "predict"), "Score rows of a table with a model file."
        ),
        "keys": LazyCommand(load("_keys", "keys_app"), "Organisation signing keys."),
        "ledger": LazyCommand(
            load("_ledger", "ledger_app"),
            "Verify and inspect a consortium ledger (store or bundle).",
        ),
        "ca": LazyCommand(
            load("_pki", "ca_app"), "The consortium certificate authority (mutual TLS)."
        ),
        "hub": LazyCommand(_hub_app, "The consortium hub as a network service."),
        "member": LazyCommand(
            load("_members", "member_app"),
            "A member's own keys and public card (run on the member's machine).",
        ),
        "researcher": LazyCommand(
            load("_members", "researcher_app"), "A researcher's own keys and card."
        ),
        "consortium": LazyCommand(
            load("_consortium", "consortium_app"),
            "Found a consortium from members' cards; admit and remove members; or simulate one.",
        ),
        "site": LazyCommand(
            load("_governance", "site_app"),
            "A site's data-owner commands: review and approve functions.",
        ),
        "wsi": LazyCommand(
            load("_wsi", "wsi_app"), "Whole-slide images: metadata, QC thumbnails, tile features."
        ),
        "synth": LazyCommand(
            load("_synth", "synth_app"),
            "Synthetic slides, cohorts and consortia, for trials and tests.",
        ),
    }


app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, cls=_Root)
console = Console()
_stderr = Console(stderr=True)

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for results.json.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for splits, initialisation, batches.")]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Carry on the interrupted run in OUT from its last completed round.",
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Remove what an earlier run wrote in OUT; start over.")
]
DEMO_PATTERN_LOG_HR = 2.0  # the planted pattern at its largest extent: HR e^2 ≈ 7.4


def _version(value: bool) -> None:
    if value:
        typer.echo(f"accord {accord.__version__}")  # plain: no rich rendering to import
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Privacy-preserving federated clinical AI across hospitals."""


SHOWABLE = ("coefficients",)


def _execute(
    study_ref: str,
    data: Path | None,
    out: Path,
    seed: int,
    processes: bool = False,
    show: Sequence[str] = (),
    *,
    resume: bool = False,
    force: bool = False,
    keep: Sequence[Path] = (),
    shown: RunProgress | None = None,
) -> None:
    from accord.cli._interrupts import RunInterrupted, safe_points
    from accord.cli._progress import RunProgress
    from accord.cli._run_folder import INTERRUPTED, mark_interrupted, prepare_run_folder
    from accord.core import ConfigError
    from accord.studies import resolve_study

    unknown = [s for s in show if s not in SHOWABLE]
    if unknown:
        raise ConfigError(
            f"--show: unknown value {unknown[0]!r}; expected one of {', '.join(SHOWABLE)}"
        )
    study = resolve_study(study_ref)
    if processes and resume:
        raise ConfigError("--resume: not with --processes (start over with --force)")
    resumed = prepare_run_folder(out, resume=resume, force=force, keep=keep)
    try:
        with safe_points():
            harness = None
            if processes:
                from accord.services import start_loopback

                harness = start_loopback(study, data, out, seed)
                console.print(f"hub serving {harness.url}; {len(harness.sites)} site processes up")
            try:
                _run_and_report(
                    study, data, out, seed, harness, shown or RunProgress(console), show, resumed
                )
            finally:
                if harness is not None:
                    harness.close()
    except RunInterrupted as stop:
        mark_interrupted(out, str(stop))
        _stderr.print(
            f"interrupted by {stop} at a safe point; {out / INTERRUPTED} marks the run "
            "(carry on: --resume; start over: --force)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=stop.exit_code) from None
    (out / INTERRUPTED).unlink(missing_ok=True)  # a resumed run, now complete


def _run_and_report(
    study: StudySpec,
    data: Path | None,
    out: Path,
    seed: int,
    harness: LoopbackConsortium | None,
    shown: RunProgress,
    show: Sequence[str] = (),
    resumed: bool = False,
) -> None:

    from accord.cli._interrupts import stop_if_asked
    from accord.cli._summary import print_coefficients, print_comparisons, print_summary
    from accord.studies import (
        PlanCheckpoints,
        results_document,
        run_study,
        write_json_atomic,
        write_model_files,
        write_report,
    )

    def progress(label: str, done: int, total: int) -> None:
        shown.rounds(label, done, total)
        stop_if_asked()  # between rounds: the round's checkpoint is written

    with shown.showing():
        shown.step(f"{study.study.name}: setting up the sites")
        sim, results = run_study(
            study,
            data,
            seed,
            progress=progress,
            observer=shown.reply,  # simulated sites only; processes report rounds
            ledger_dir=out,
            feature_cache=out / "features",
            audit=harness.audit if harness else None,
            network=harness.consortium if harness else None,
            checkpoints=PlanCheckpoints(out / "checkpoints"),
            keys_dir=None if harness else out / "checkpoints" / "keys",
            resume=resumed,
        )
        run = sim.run
        _stop_between_steps(run, harness)
        if study.uses_slides:
            rendered = run.interpret(results[0])
            console.print(f"sites rendered {rendered} heatmaps into OUT/sites/*/interpretability")
            exported = run.export_tiles(results[0], out / "exported", patients=1)
            released = sum(len(images) for images in exported.values())
            console.print(f"{released} images released by {len(exported)} sites' policies")
            _stop_between_steps(run, harness)
    shown.step("sealing the ledger, writing results.json and the report")
    if run.audit is not None:
        run.audit.seal()  # the log ends in a checkpoint of its final size, co-signed
    models = write_model_files(run, results, out)  # while the ledger is open: cited
    document = results_document(
        run, results, oracle=sim.oracle, notes=sim.cohort.notes, models=models
    )
    if harness is not None:
        harness.close()  # site processes first, then the server, then the ledger
    elif run.audit is not None:
        run.audit.close()
    write_json_atomic(out / "results.json", document)
    report = write_report(run, results, document, out, oracle=sim.oracle)
    shown.step("done")
    print_summary(console, f"{study.study.name} (seed {seed})", results)
    print_comparisons(console, run.comparisons)
    if "coefficients" in show:
        print_coefficients(console, results, study.evaluation.confidence)
    if sim.oracle is not None and sim.oracle.consortium_cindex is not None:
        console.print(
            f"oracle (true risk, synthetic data): consortium C {sim.oracle.consortium_cindex:.3f}"
        )
    if run.risk_groups is not None:
        console.print(
            f"risk groups (median split, KM from summed counts): log-rank "
            f"p = {run.risk_groups.logrank_p:.3g}"
        )
    for note in [*sim.cohort.notes, *run.notes]:
        console.print(f"note: {note}")
    for site, reason in run.excluded.items():
        console.print(f"[bold yellow]warning[/]: site {site} took no part: {reason}")
    console.print(f"results: {out / 'results.json'}  config hash {document['config_hash'][:12]}")
    console.print(f"report: {report}")
    if models:
        console.print(f"models: {out / 'models'} ({', '.join(models)}; apply: accord predict)")
    if "ledger" in document:
        ledger = document["ledger"]
        console.print(
            f"ledger: {out / 'ledger.sqlite'}  {ledger['size']} entries, root "
            f"{ledger['root'][:16]}…, co-signed by {len(ledger['replicas'])} sites "
            f"(check: accord ledger verify {out / 'ledger.sqlite'} --anchor "
            f"{out / 'anchor.json'} --require-cosigned)"
        )


def _stop_between_steps(run: StudyRun, harness: LoopbackConsortium | None) -> None:
    """A safe point after training and evaluation: the ledger this run opened, closed."""
    from accord.cli._interrupts import RunInterrupted, stop_if_asked

    try:
        stop_if_asked()
    except RunInterrupted:
        if harness is None and run.audit is not None:
            try:
                run.audit.seal()
            finally:
                run.audit.close()
        raise


@app.command()
def run(
    study: Annotated[str, typer.Argument(help="Study TOML file, or a built-in study name.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Folder holding the cohort files.")
    ] = None,
    out: OutOpt = Path("runs/latest"),
    seed: SeedOpt = 0,
    processes: Annotated[
        bool,
        typer.Option(
            "--processes",
            help="Run the hub here and every site as its own process, over mutual TLS on "
            "loopback (same results as the in-process simulation).",
        ),
    ] = False,
    show: Annotated[
        list[str] | None,
        typer.Option(
            "--show",
            help="Also print after the summary: 'coefficients' (hazard ratios, 95 % CI and "
            "p per feature of every linear Cox model).",
        ),
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run a study: federated training, evaluation and baselines; write results.json.

    Ctrl-C or SIGTERM stops at the next safe point (between rounds) and marks OUT as
    interrupted. A non-empty OUT is refused unless --resume or --force.
    """
    guarded(
        debug,
        lambda: _execute(study, data, out, seed, processes, show or (), resume=resume, force=force),
    )


@app.command()
def demo(
    out: OutOpt = Path("runs/demo"),
    seed: SeedOpt = 0,
    patients: Annotated[int, typer.Option("--patients", min=10, help="Patients per site.")] = 50,
    slide_size: Annotated[
        int, typer.Option("--slide-size", min=256, help="Slide width and height in pixels.")
    ] = 1024,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    debug: DebugOpt = False,
) -> None:
    """The HCC flagship study on a freshly generated 3-site consortium (no data needed).

    Writes the synthetic hospitals' slides and tables to OUT/data, then trains CHOWDER on
    slides + clinical data across the sites with secure aggregation and the ledger on, and
    writes OUT/results.json and OUT/report.html.
    """

    from accord.cli._progress import RunProgress

    shown = RunProgress(console)

    def generate() -> None:
        from accord.synth import generate_hcc_consortium

        data = out / "data"
        if (data / "consortium.json").is_file():
            console.print(f"reusing the synthetic consortium in {data}")
            return
        shown.step("generating 3 synthetic hospitals (slides, clinical tables)")
        with console.status("generating 3 synthetic hospitals (slides, clinical tables)"):
            consortium = generate_hcc_consortium(
                data,
                sites=3,
                patients=patients,
                seed=seed,
                slide_size=slide_size,
                pattern_log_hr=DEMO_PATTERN_LOG_HR,
            )
        console.print(f"synthetic consortium: {consortium.root} (truth in truth.csv)")

    guarded(debug, generate)

    def execute() -> None:
        data = out / "data"
        _execute(
            "hcc-resection-survival",
            data,
            out,
            seed,
            resume=resume,
            force=force,
            keep=[data],
            shown=shown,
        )

    guarded(debug, execute)


def main() -> None:
    app()
