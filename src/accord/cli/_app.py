"""``accord``: run federated studies from the command line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

import accord
from accord.cli._consortium import consortium_app
from accord.cli._errors import guarded
from accord.cli._governance import audit, site_app, status, submit
from accord.cli._keys import keys_app
from accord.cli._ledger import ledger_app
from accord.cli._members import enroll_hub, member_app, researcher_app
from accord.cli._pki import ca_app
from accord.cli._predict import predict
from accord.cli._progress import RunProgress
from accord.cli._remote import results
from accord.cli._serve import hub_app
from accord.cli._summary import print_coefficients, print_comparisons, print_summary
from accord.cli._synth import synth_app
from accord.cli._wsi import wsi_app
from accord.core import ConfigError, StudySpec
from accord.studies import resolve_study, write_json_atomic

if TYPE_CHECKING:
    from accord.services import LoopbackConsortium

# Running a study imports torch, pandas and the synthetic-data generators: those imports
# are in the functions that run one, so that every command starts fast.

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(keys_app, name="keys")
app.add_typer(ledger_app, name="ledger")
app.add_typer(ca_app, name="ca")
hub_app.command("enroll")(enroll_hub)  # here, so the serving module stays as it is
app.add_typer(hub_app, name="hub")
app.add_typer(member_app, name="member")
app.add_typer(researcher_app, name="researcher")
app.add_typer(consortium_app, name="consortium")
app.add_typer(site_app, name="site")
app.add_typer(wsi_app, name="wsi")
app.add_typer(synth_app, name="synth")
app.command()(submit)
app.command()(status)
app.command()(audit)
app.command()(results)
app.command()(predict)
console = Console()

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for results.json.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for splits, initialisation, batches.")]
DEMO_PATTERN_LOG_HR = 2.0  # the planted pattern at its largest extent: HR e^2 ≈ 7.4


def _version(value: bool) -> None:
    if value:
        console.print(f"accord {accord.__version__}")
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
    shown: RunProgress | None = None,
) -> None:
    unknown = [s for s in show if s not in SHOWABLE]
    if unknown:
        raise ConfigError(
            f"--show: unknown value {unknown[0]!r}; expected one of {', '.join(SHOWABLE)}"
        )
    study = resolve_study(study_ref)
    shown = shown or RunProgress(console)
    harness = None
    if processes:
        from accord.services import start_loopback

        harness = start_loopback(study, data, out, seed)
        console.print(f"hub serving {harness.url}; {len(harness.sites)} site processes up")
    try:
        _run_and_report(study, data, out, seed, harness, shown, show)
    finally:
        if harness is not None:
            harness.close()


def _run_and_report(
    study: StudySpec,
    data: Path | None,
    out: Path,
    seed: int,
    harness: LoopbackConsortium | None,
    shown: RunProgress,
    show: Sequence[str] = (),
) -> None:
    from accord.studies import results_document, run_study, write_model_files, write_report

    with shown.showing():
        shown.step(f"{study.study.name}: setting up the sites")
        sim, results = run_study(
            study,
            data,
            seed,
            progress=shown.rounds,
            observer=shown.reply,  # simulated sites only; processes report rounds
            ledger_dir=out,
            feature_cache=out / "features",
            audit=harness.audit if harness else None,
            network=harness.consortium if harness else None,
        )
        run = sim.run
        if study.uses_slides:
            rendered = run.interpret(results[0])
            console.print(f"sites rendered {rendered} heatmaps into OUT/sites/*/interpretability")
            exported = run.export_tiles(results[0], out / "exported", patients=1)
            released = sum(len(images) for images in exported.values())
            console.print(f"{released} images released by {len(exported)} sites' policies")
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
    debug: DebugOpt = False,
) -> None:
    """Run a study: federated training, evaluation and baselines; write results.json."""
    guarded(debug, lambda: _execute(study, data, out, seed, processes, show or ()))


@app.command()
def demo(
    out: OutOpt = Path("runs/demo"),
    seed: SeedOpt = 0,
    patients: Annotated[int, typer.Option("--patients", min=10, help="Patients per site.")] = 50,
    slide_size: Annotated[
        int, typer.Option("--slide-size", min=256, help="Slide width and height in pixels.")
    ] = 1024,
    debug: DebugOpt = False,
) -> None:
    """The HCC flagship study on a freshly generated 3-site consortium (no data needed).

    Writes the synthetic hospitals' slides and tables to OUT/data, then trains CHOWDER on
    slides + clinical data across the sites with secure aggregation and the ledger on, and
    writes OUT/results.json and OUT/report.html.
    """

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
    guarded(debug, lambda: _execute("hcc-resection-survival", out / "data", out, seed, shown=shown))


def main() -> None:
    app()
