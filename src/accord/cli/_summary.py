"""The readable terminal summary of a run: sites as rows, methods as columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:  # annotations only: the results' module imports numpy
    from accord.studies import Comparison, MethodResult

__all__ = [
    "comparison_line",
    "convergence_cell",
    "exclusion_lines",
    "print_coefficients",
    "print_comparisons",
    "print_summary",
    "signed_comparison_line",
]

Metrics = dict[str, float | int | None]
FOOTNOTE = (
    "Harrell's C on each site's test rows [95 % bootstrap interval]. 'consortium' sums the "
    "sites' concordant/comparable pair counts (a site-stratified bootstrap gives its "
    "interval). 'pooled' (all rows in one place) and 'local only' (each site alone, scored "
    "at home) are reference baselines."
)


def _fmt(value: float | int | None, digits: int = 3) -> str:
    if value is not None and value != 0 and abs(value) < 10**-digits:
        return f"{value:.1e}"  # a small step or HR is not 0.000
    return "—" if value is None else f"{value:.{digits}f}"


def _with_ci(c: float | int | None, lo: float | int | None, hi: float | int | None) -> str:
    if c is None:
        return "—"
    return f"{c:.3f} [{_fmt(lo, 2)}–{_fmt(hi, 2)}]" if lo is not None else f"{c:.3f}"


def _site_cell(metrics: Metrics) -> str:
    return _with_ci(
        metrics.get("harrell_c"), metrics.get("harrell_c_lower"), metrics.get("harrell_c_upper")
    )


def _local_column(local: dict[str, MethodResult], sites: list[str]) -> tuple[list[str], str]:
    """At each site, the model trained there alone; and the mean of those C values."""
    cells, values = [], []
    for site in sites:
        own = local.get(site)
        if own is None or own.error:
            cells.append("failed" if own else "—")
            continue
        metrics = own.per_site.get(site, {})
        cells.append(_site_cell(metrics))
        if metrics.get("harrell_c") is not None:
            values.append(float(metrics["harrell_c"] or 0.0))
    return cells, _fmt(sum(values) / len(values)) if values else "—"


def print_summary(console: Console, title: str, results: list[MethodResult]) -> None:
    """Per-site and consortium Harrell C with intervals, one column per method."""
    main = [r for r in results if not r.method.startswith("local:")]
    local = {r.trained_on[0]: r for r in results if r.method.startswith("local:")}
    sites = sorted({s for r in main for s in r.per_site})
    local_cells, local_mean = _local_column(local, sites)
    table = Table(title=title)
    table.add_column("site", style="bold")
    for r in main:
        table.add_column(r.method, justify="right")
    if local:
        table.add_column("local only", justify="right")

    def extra(cell: str) -> list[str]:
        return [cell] if local else []

    for i, site in enumerate(sites):
        cells = [_site_cell(r.per_site.get(site, {})) for r in main]
        table.add_row(site, *cells, *extra(local_cells[i]))
    interval = [r.consortium_interval or (None, None) for r in main]
    consortium = [_with_ci(r.consortium_cindex, *ci) for r, ci in zip(main, interval, strict=True)]
    table.add_row("consortium", *consortium, *extra("—"), style="bold")
    table.add_row("mean of sites", *[_fmt(r.mean_site_cindex) for r in main], *extra(local_mean))
    table.add_row("training", *[convergence_cell(r) for r in main], *extra(_local_rounds(local)))
    console.print(table)
    console.print(FOOTNOTE)
    for line in exclusion_lines(results):
        console.print(f"[bold yellow]left out[/]: {line}")
    for r in results:
        if r.error:  # the table says only 'failed': here is why
            console.print(
                f"[bold red]failed[/]: {escape(r.method)}: {escape(r.error)}", emoji=False
            )
        c = r.convergence
        if c is not None and c.converged is False and not r.error:
            console.print(
                f"[bold yellow]warning[/]: {escape(r.method)} did not converge in "
                f"{c.iterations} iterations (last step {_fmt(c.last_step, 2)}); raise "
                "training.rounds, or model.l2 if a coefficient diverges",
                emoji=False,
            )


def convergence_cell(result: MethodResult) -> str:
    """How the method's training ended: 'converged (5 it.)', 'NOT converged (30 it.)',
    '10 rounds' (no convergence test), or 'failed'."""
    if result.error:
        return "failed"
    c = result.convergence
    if c is None:
        return f"{result.rounds} rounds"
    if c.converged is None:
        return f"{c.iterations} rounds"
    return (
        f"converged ({c.iterations} it.)" if c.converged else f"NOT converged ({c.iterations} it.)"
    )


def _local_rounds(local: dict[str, MethodResult]) -> str:
    cells = {convergence_cell(r) for r in local.values() if not r.error}
    return cells.pop() if len(cells) == 1 else "per site"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def print_coefficients(
    console: Console, results: list[MethodResult], confidence: float = 0.95
) -> None:
    """Per method with a linear Cox part: HR per unit of each feature (a level against the
    reference), its Wald interval (at the study's ``confidence``) and p; the others' note."""
    for result in results:
        if result.method.startswith("local:"):
            continue
        if not result.coefficients:
            if result.coefficients_note and not result.error:
                console.print(
                    f"{result.method}: {result.coefficients_note}", markup=False, emoji=False
                )
            continue
        caption = "per unit of each feature; a level against the reference level; Wald CI and p"
        table = Table(title=f"{result.method}: hazard ratios", caption=caption)
        table.add_column("feature", style="bold")
        for name in ("HR", f"{confidence:.0%} CI".replace("%", " %"), "p"):
            table.add_column(name, justify="right")
        for c in result.coefficients:
            ci = "—" if c.hr_low is None else f"{_fmt(c.hr_low)}–{_fmt(c.hr_high)}"
            table.add_row(c.feature, _fmt(c.hr), ci, _p(c.p))
        console.print(table)
        if result.coefficients_note:
            console.print(f"note: {result.coefficients_note}", markup=False, emoji=False)


def exclusion_lines(results: list[MethodResult]) -> list[str]:
    """One line per method and site that took no part somewhere, with where and why."""
    lines = []
    for result in results:
        for site, where in sorted(result.excluded.items()):
            places = ", ".join(where)
            reasons = "; ".join(dict.fromkeys(where.values()))
            lines.append(f"{result.method}: {site} ({places}): {reasons}")
    return lines


_LABELS = {"clinical_only": "clinical-only", "local": "local-only"}


def _signed(value: float) -> str:
    """``+0.012`` / ``−0.010`` (a true minus sign, as in print)."""
    return f"{value:+.3f}".replace("-", "\u2212")


def comparison_line(comparison: Comparison) -> str:
    """One sentence: the paired difference in consortium C, its interval, and whether the
    interval excludes no difference."""
    against = _LABELS.get(comparison.against, comparison.against)
    head = (
        f"federated ({comparison.method}) vs {against}: \u0394C = {_signed(comparison.difference)}"
    )
    level = f"{100 * comparison.confidence:g} %"
    if comparison.low is None or comparison.high is None:
        return f"{head} (no {level} CI: no bootstrap resample has comparable pairs)"
    patients = f" {comparison.patients}" if comparison.patients is not None else ""
    verdict = "significant" if comparison.significant else "not significant (within noise)"
    return (
        f"{head} ({level} CI {_signed(comparison.low)} to {_signed(comparison.high)}), "
        f"paired bootstrap over the same{patients} held-out patients "
        f"({comparison.resamples} site-stratified resamples): {verdict}"
    )


def print_comparisons(console: Console, comparisons: list[Comparison]) -> None:
    """The paired comparisons of the study's model with its baselines, one line each."""
    for comparison in comparisons:
        console.print(comparison_line(comparison), highlight=False)
    noise = [c for c in comparisons if c.low is not None and not c.significant]
    if noise:
        console.print(
            f"note: {len(noise)} of these {len(comparisons)} differences are within noise "
            "(the interval includes 0): this many held-out patients cannot tell those methods "
            "apart; the figures show the workflow, not which method is better",
            highlight=False,
        )


def signed_comparison_line(row: Mapping[str, Any]) -> str:
    """A ``comparisons`` row of results rebuilt from the ledger (six decimals, no level or
    patient count signed) as one line naming its ledger entry."""
    against = _LABELS.get(str(row.get("against")), str(row.get("against")))
    head = f"{row.get('method')} vs {against}: \u0394C = "
    head += "\u2014" if row.get("difference") is None else _signed(float(row["difference"]))
    low, high = row.get("low"), row.get("high")
    if low is not None and high is not None:
        head += f" [{_signed(float(low))} to {_signed(float(high))}]"
    seq = row.get("ledger", {}).get("metric_seq", "\u2014")
    return f"{head}, {row.get('resamples')} paired resamples (ledger entry {seq})"
