"""``accord ledger``: verify, export, show, prove and check proofs — all offline."""

from __future__ import annotations

import base64
import json
import shutil
import textwrap
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from accord.cli._errors import guarded
from accord.cli._proof import PROOF_FORMAT, Proof, load_proof
from accord.core import ConfigError, EquivocationError, LedgerError, load_json
from accord.crypto import load_public
from accord.ledger import (
    Anchor,
    Entry,
    SQLiteLedgerStore,
    VerifyReport,
    anchor_of,
    compare_logs,
    export_bundle,
    leaf_hash,
    load_anchor,
    load_evidence,
    open_source,
    verify_inclusion,
    verify_log,
    verify_signature,
    write_evidence,
)

__all__ = ["ledger_app"]

ledger_app = typer.Typer(help="Verify and inspect a consortium ledger (store or bundle).")
console = Console(soft_wrap=True)
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


AnchorOpt = Annotated[
    Path | None,
    typer.Option("--anchor", help="anchor.json obtained out of band (genesis and hub key)"),
]


@ledger_app.command()
def verify(
    path: Annotated[Path | None, typer.Argument(help="ledger.sqlite or an exported bundle")] = None,
    anchor: AnchorOpt = None,
    no_anchor: Annotated[
        bool, typer.Option("--no-anchor", help="accept a ledger checked against itself only")
    ] = False,
    require_cosigned: Annotated[
        bool,
        typer.Option(
            "--require-cosigned",
            help="fail unless the last checkpoint covers the log and every site co-signed it",
        ),
    ] = False,
    evidence: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            help="instead of a ledger: check a site's equivocation evidence (needs --anchor)",
        ),
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            help="another copy of the log (a site's replica): report checkpoints of two histories",
        ),
    ] = None,
    evidence_out: Annotated[
        Path, typer.Option("--evidence-out", help="with --compare: folder for evidence files")
    ] = Path("evidence"),
    debug: DebugOpt = False,
) -> None:
    """Check every signature, the chain, keys, Merkle roots, checkpoints and co-signatures.

    Without ``--anchor`` a re-forged log (new genesis, new keys) would verify too, so the
    command prints UNANCHORED and fails unless ``--no-anchor`` is given. With
    ``--evidence FILE --anchor anchor.json`` it checks an evidence file a site wrote:
    exit 10 (EquivocationError) when it proves the hub signed conflicting checkpoints,
    9 when it does not. ``LEDGER --compare REPLICA`` verifies both copies, then reports
    every size the hub signed with two roots, or checkpoints not consistent across the two,
    as EQUIVOCATION with evidence files in ``--evidence-out`` (exit 10).
    """

    def action() -> None:
        if evidence is not None:
            _verify_evidence(evidence, anchor, path)
        if path is None:
            raise ConfigError("give a LEDGER to verify, or --evidence FILE")
        pinned = load_anchor(anchor) if anchor is not None else None
        report, found = _verified(path, anchor, pinned)
        _check_complete(path, report, require_cosigned)
        console.print(f"{path}: {report.summary()}")
        console.print(f"{path}: {report.tail()}")
        console.print(", ".join(f"{k} {v}" for k, v in sorted(report.kinds.items())))
        if pinned is not None:
            console.print(f"{path}: ANCHORED: genesis and hub key match {anchor}")
        elif not no_anchor:
            raise LedgerError(
                f"{path}: UNANCHORED: the log was checked against itself only; pass "
                "--anchor anchor.json (obtained out of band) or --no-anchor"
            )
        else:
            console.print(f"{path}: UNANCHORED (--no-anchor): checked against itself only")
        if compare is not None:
            _compare(path, compare, anchor, pinned or found, report, evidence_out)

    guarded(debug, action)


def _verified(
    path: Path, anchor_file: Path | None, pinned: Anchor | None
) -> tuple[VerifyReport, Anchor]:
    """Verify one log (and against ``pinned``); LedgerError at the first problem."""
    source = open_source(path)
    try:
        report = verify_log(
            source.entries(), source.checkpoints, source.cosignatures, read_node=source.read_node
        )
    finally:
        source.close()
    if not report.ok:
        raise LedgerError(f"{path}: {report.summary()}")
    if report.size == 0 or report.genesis is None:
        raise LedgerError(f"{path}: empty ledger (no genesis entry)")
    found = anchor_of(report.genesis)
    if pinned is not None:
        _check_anchor(path, anchor_file, pinned, found)
    return report, found


def _compare(
    path: Path,
    other: Path,
    anchor_file: Path | None,
    pinned: Anchor,
    report: VerifyReport,
    out: Path,
) -> None:
    """``path`` against ``other`` (both verified, same anchor); raises on a conflict."""
    other_report, _ = _verified(other, anchor_file or path, pinned)
    console.print(f"{other}: {other_report.summary()}")
    sources = [open_source(p) for p in (path, other)]
    try:
        hub, site = sources
        found = compare_logs(
            (hub.entries(), hub.checkpoints),
            (site.entries(), site.checkpoints),
            base64.b64decode(pinned.hub_public_key),
            "auditor",
        )
        signed = max((cp.size for cp in sources[1].checkpoints), default=0)
    finally:
        for s in sources:
            s.close()
    for item in found:
        sizes = " and ".join(str(n) for n in item.sizes)
        written = write_evidence(out, item)
        console.print(f"EQUIVOCATION: {item.kind}, sizes {sizes}: evidence {written}")
    if found:
        raise EquivocationError(
            f"{path} and {other}: the hub signed checkpoints of two histories "
            f"({len(found)} conflict(s)); evidence in {out}"
        )
    if signed > report.size:
        raise LedgerError(
            f"{path}: ends at size {report.size}, but {other} holds a hub checkpoint of size "
            f"{signed}: the log was cut"
        )
    console.print(f"{path} and {other}: CONSISTENT: no size signed with two roots")


def _verify_evidence(file: Path, anchor: Path | None, path: Path | None) -> None:
    """Check ``file`` against the anchor's hub key; always raises: EquivocationError if the
    evidence holds, LedgerError (or ConfigError) if it does not or cannot be checked."""
    if path is not None:
        raise ConfigError("--evidence FILE checks the evidence alone; give no LEDGER with it")
    if anchor is None:
        raise ConfigError(
            "--evidence FILE needs --anchor anchor.json (obtained out of band): the hub key "
            "must not come from the evidence itself"
        )
    pinned, found = load_anchor(anchor), load_evidence(file)
    try:
        found.check_anchored(pinned)
    except LedgerError as exc:
        raise LedgerError(f"{file}: {exc}") from None
    sizes = " and ".join(str(s) for s in found.sizes)
    console.print(
        f"{file}: EQUIVOCATION proven ({found.kind}, sizes {sizes}, found by "
        f"{found.site}): the hub key of {anchor} signed checkpoints of two histories"
    )
    raise EquivocationError(f"{file}: the hub equivocated ({found.kind} at size {found.sizes[-1]})")


def _check_anchor(path: Path, anchor_file: Path | None, pinned: Anchor, found: Anchor) -> None:
    field = pinned.mismatch(found)
    if field is not None:
        raise LedgerError(
            f"{path}: anchor mismatch: field '{field}' of the ledger's genesis differs from "
            f"{anchor_file}; this is not the consortium's log"
        )


def _check_complete(path: Path, report: VerifyReport, require_cosigned: bool) -> None:
    if report.uncovered:
        console.print(f"[bold yellow]warning[/]: {path}: {report.tail()}")
    missing = report.missing_cosigners()
    if missing and report.uncovered == 0:
        console.print(
            f"[bold yellow]warning[/]: {path}: the last checkpoint (size {report.covered}) "
            f"is not co-signed by {', '.join(missing)}"
        )
    if not require_cosigned:
        return
    if report.uncovered:
        raise LedgerError(f"{path}: not co-signed to its end: {report.tail()}")
    if not report.data_holders:
        raise LedgerError(f"{path}: no site registered a dataset; nobody co-signs this log")
    if missing:
        raise LedgerError(
            f"{path}: the last checkpoint (size {report.covered}) lacks co-signatures "
            f"by {', '.join(missing)}"
        )


@ledger_app.command()
def anchor(
    path: Annotated[Path, typer.Argument(help="ledger.sqlite or an exported bundle")],
    debug: DebugOpt = False,
) -> None:
    """Print the ledger's anchor (genesis hash, hub key, members) as JSON."""

    def action() -> None:
        source = open_source(path)
        try:
            genesis = next(iter(source.entries()), None)
        finally:
            source.close()
        if genesis is None:
            raise LedgerError(f"{path}: empty ledger (no genesis entry)")
        console.print(json.dumps(anchor_of(genesis).to_json(), indent=2), highlight=False)

    guarded(debug, action)


@ledger_app.command()
def export(
    ledger: Annotated[Path, typer.Option("--ledger", help="ledger.sqlite to export")],
    out: Annotated[Path, typer.Option("--out", help="bundle file to write")],
    debug: DebugOpt = False,
) -> None:
    """Write a self-contained bundle (JSON lines) that an auditor can verify offline."""

    def action() -> None:
        with SQLiteLedgerStore(ledger, create=False) as store:
            count = export_bundle(store, out)
        console.print(f"exported {count} entries to {out}")

    guarded(debug, action)


def _readable(entry: Entry, plan: str | None, width: int) -> list[str]:
    """An entry for people: a heading line, then each payload key with its value (compact
    JSON) wrapped to ``width`` under the key, never cut short."""
    lines = [
        f"#{entry.seq}  {entry.time}  {entry.org}  {entry.kind}"
        + (f"  plan {plan}" if plan else "")
    ]
    for key, value in sorted(entry.payload.items()):
        if key == "plan" and value == plan:
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        lines += textwrap.wrap(
            text,
            width=max(width, 40),
            initial_indent=f"    {key}: ",
            subsequent_indent=" " * 8,
            break_on_hyphens=False,
        ) or [f"    {key}: "]
    return lines


@ledger_app.command()
def show(
    path: Annotated[Path, typer.Argument(help="ledger.sqlite or a bundle")],
    kind: Annotated[str | None, typer.Option("--kind", help="only entries of this kind")] = None,
    org: Annotated[str | None, typer.Option("--org", help="only entries by this org")] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="only this plan's entries")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object per entry and line, for machines")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """List entries: seq, time, author, kind, plan and the whole payload, wrapped.

    With ``--json`` each entry is one line of JSON: the signed entry's fields and its plan.
    """

    def action() -> None:
        source = open_source(path)
        width = min(shutil.get_terminal_size((100, 24)).columns, 120)
        try:
            for stored in source.entries():
                if (kind and stored.kind != kind) or (org and stored.org != org):
                    continue
                if plan and stored.plan != plan:
                    continue
                e = Entry.parse(stored.entry)
                if as_json:
                    typer.echo(json.dumps({**e.to_dict(), "plan": stored.plan}, sort_keys=True))
                else:
                    typer.echo("\n".join(_readable(e, stored.plan, width)))
        finally:
            source.close()

    guarded(debug, action)


@ledger_app.command()
def prove(
    path: Annotated[Path, typer.Argument(help="ledger.sqlite")],
    seq: Annotated[int, typer.Argument(help="entry to prove")],
    out: Annotated[Path | None, typer.Option("--out", help="write the proof here")] = None,
    debug: DebugOpt = False,
) -> None:
    """Inclusion proof of entry SEQ against the latest signed checkpoint that covers it."""

    def action() -> None:
        with SQLiteLedgerStore(path, create=False) as store:
            document = _proof_document(store, seq)
        text = json.dumps(document, indent=2)
        if out is not None:
            out.write_text(text + "\n")
            console.print(f"proof of entry {seq} written to {out}")
        else:
            console.print(text, highlight=False)

    guarded(debug, action)


def _proof_document(store: SQLiteLedgerStore, seq: int) -> dict[str, Any]:
    if not 0 <= seq < store.size():
        raise LedgerError(f"entry {seq} is not in the log (size {store.size()})")
    covering = [c for c in store.checkpoints() if c.size > seq]
    if not covering:
        raise LedgerError(f"no signed checkpoint covers entry {seq} yet")
    cp = max(covering, key=lambda c: c.size)
    stored = next(iter(store.read(seq, seq + 1)))
    return {
        "format": PROOF_FORMAT,
        "seq": seq,
        "size": cp.size,
        "root": cp.root.hex(),
        "entry": _b64(stored.entry),
        "signature": _b64(stored.signature),
        "proof": [h.hex() for h in store.inclusion_proof(seq, cp.size)],
        "checkpoint": {"body": _b64(cp.body), "signature": _b64(cp.signature)},
    }


@ledger_app.command("check-proof")
def check_proof(
    proof_file: Annotated[Path, typer.Argument(help="file written by `accord ledger prove`")],
    hub_key: Annotated[
        Path | None, typer.Option("--hub-key", help="hub .pub.json to authenticate the root")
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Check an inclusion proof without the ledger (and the checkpoint with --hub-key)."""

    def action() -> None:
        proof = load_proof(proof_file)
        leaf = leaf_hash(proof.entry + proof.signature)
        if not verify_inclusion(leaf, proof.seq, proof.size, proof.path, proof.root):
            raise LedgerError(
                f"{proof_file}: the entry is NOT included under root {proof.root.hex()}"
            )
        message = f"entry {proof.seq} is included in the log of size {proof.size}"
        if hub_key is not None:
            message += _check_checkpoint(proof, hub_key)
        parsed = Entry.parse(proof.entry)
        console.print(f"OK: {message} ({parsed.kind} by {parsed.org} at {parsed.time})")

    guarded(debug, action)


def _check_checkpoint(proof: Proof, hub_key: Path) -> str:
    public = load_public(hub_key)
    if not verify_signature(public.public_key, proof.checkpoint_signature, proof.checkpoint_body):
        raise LedgerError("the checkpoint is not signed by that hub key")
    try:
        body = load_json(proof.checkpoint_body)
    except ValueError as exc:
        raise LedgerError(f"the hub signed a checkpoint that is not JSON ({exc})") from None
    if not isinstance(body, dict) or body.get("root") != proof.root.hex():
        raise LedgerError("the checkpoint signs another root")
    return f"; root signed by {public.org} ({public.key_id})"
