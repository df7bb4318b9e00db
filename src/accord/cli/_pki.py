"""``accord ca``: the consortium certificate authority.

::

    accord ca init --out ca/ --consortium hcc            # ca/ca.key (0600) + ca/ca.crt
    accord site enroll --org hospital-a --out keys/      # on the site (cli/_members.py)
    accord ca sign keys/hospital-a.card.json --ca ca/ --out tls/ --days 30   # hospital-a.crt
    accord ca sign keys/hospital-a.csr --ca ca/ --out tls/                   # the same
    accord ca show tls/hospital-a.crt
    accord ca revoke tls/hospital-a.crt --reason "key lost" --out revoke.json

Renewal is ``accord ca sign`` on the same request again. ``ca revoke`` writes the payload
of a ``certificate.revoke`` ledger entry for the hub to record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from accord.cli._errors import guarded
from accord.cli._hub_record import record_on_hub
from accord.core import AuthError, KeyFileError
from accord.crypto import (
    CERT_REVOKE,
    DEFAULT_CERT_DAYS,
    PASSPHRASE_ENV,
    describe_certificate,
    init_ca,
    load_certificate,
    revocation_payload,
    sign_request,
)
from accord.studies import write_json_atomic

__all__ = ["ca_app"]

ca_app = typer.Typer(
    help="The consortium certificate authority (mutual TLS).", no_args_is_help=True
)
_console = Console(highlight=False)

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing private key.")]


def _say(text: str) -> None:
    _console.print(text, markup=False, soft_wrap=True)


def _note_unencrypted() -> None:
    if not os.environ.get(PASSPHRASE_ENV):
        _say(f"note: the private key is unencrypted; set {PASSPHRASE_ENV} to encrypt it")


@ca_app.command("init")
def init(
    out: Annotated[Path, typer.Option("--out", help="Folder for ca.key and ca.crt.")],
    consortium: Annotated[str, typer.Option("--consortium", help="The consortium's name.")],
    days: Annotated[int, typer.Option("--days", help="Validity of the CA certificate.")] = 3650,
    overwrite: OverwriteOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Create the consortium CA (ECDSA P-256): ca.key stays with the CA operator."""

    def action() -> None:
        key, cert = init_ca(out, consortium, days=days, overwrite=overwrite)
        _say(f"private: {key}  (keep it offline; mode 0600)")
        _say(f"CA:      {cert}  (give it to every site and the hub)")
        _note_unencrypted()

    guarded(debug, action)


@ca_app.command("sign")
def sign(
    csr: Annotated[
        Path, typer.Argument(help="The member's request ({org}.csr) or card ({org}.card.json).")
    ],
    ca: Annotated[Path, typer.Option("--ca", help="The CA folder (ca.key, ca.crt).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for {org}.crt.")],
    days: Annotated[
        int, typer.Option("--days", help="Validity in days (short-lived; renew by signing again).")
    ] = DEFAULT_CERT_DAYS,
    org: Annotated[
        str | None, typer.Option("--org", help="Refuse unless the request is for this org.")
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Issue a certificate for a member's request or card (signing it again renews it)."""

    def action() -> None:
        path = sign_request(ca, csr, out, days=days, org=org)
        _show(path)
        _say(f"certificate: {path}  (give it and ca.crt to the site)")

    guarded(debug, action)


def _describe(path: Path) -> list[str]:
    cert = load_certificate(path)
    try:
        info = describe_certificate(cert)
    except AuthError as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    return [
        f"org:         {info.org}",
        f"serial:      {info.serial}",
        f"fingerprint: {info.fingerprint}",
        f"valid:       {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
        f"{info.not_after:%Y-%m-%d %H:%M} UTC",
    ]


def _show(path: Path) -> None:
    for line in _describe(path):
        _say(line)


@ca_app.command("show")
def show(
    cert: Annotated[Path, typer.Argument(help="A certificate ({org}.crt).")],
    debug: DebugOpt = False,
) -> None:
    """Print a certificate's organisation, serial, fingerprint and validity."""
    guarded(debug, lambda: _show(cert))


def _revoke(cert: Path, reason: str, out: Path) -> None:
    payload = revocation_payload(load_certificate(cert), reason)
    if not payload["org"]:
        raise KeyFileError(f"{cert}: names no valid organisation; not an accord certificate")
    try:
        write_json_atomic(out, payload)
    except OSError as exc:
        raise KeyFileError(f"{out}: cannot write ({exc.strerror})") from None
    _say(f"revocation of serial {payload['serial']} ({payload['org']}): {out}")
    _say("record it on the ledger (kind certificate.revoke); both ends then refuse it")


@ca_app.command("revoke")
def revoke(
    cert: Annotated[Path, typer.Argument(help="The certificate to revoke ({org}.crt).")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in one line (e.g. key lost).")],
    out: Annotated[Path, typer.Option("--out", help="JSON file for the revocation payload.")],
    hub: Annotated[
        str | None, typer.Option("--hub", help="Also record it on this hub's ledger (URL).")
    ] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option("--signing-key", help="With --hub: the consortium operator's key file."),
    ] = None,
    tls: Annotated[
        Path | None,
        typer.Option("--tls", help="With --hub: folder with {org}.crt, {org}.tls.key, ca.crt."),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Revoke a certificate: write the certificate.revoke payload and, with --hub, sign it
    into the consortium ledger; from then on the hub refuses that certificate."""

    def action() -> None:
        _revoke(cert, reason, out)
        if hub is not None:
            payload = json.loads(out.read_text(encoding="utf-8"))
            seq = record_on_hub(hub, signing_key, tls, CERT_REVOKE, payload)
            _say(f"recorded on the hub's ledger as entry {seq}")

    guarded(debug, action)
