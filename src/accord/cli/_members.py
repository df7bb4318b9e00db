"""``accord member enroll``: an organisation's keys and its public card, on its own machine.

::

    accord member enroll --role site --org hospital-a --out keys/     # any role
    accord site enroll --org hospital-a --out keys/                   # role site
    accord researcher enroll --org lab --out keys/                    # role researcher
    accord hub enroll --org hub --out hubdir/ --host hub.example.org  # role hub
    accord member enroll --role operator --org ca-office --out keys/  # the CA operator

Each writes, in ``--out``: ``{org}.tls.key`` (TLS private key, 0600) and ``{org}.csr``;
``{org}.key`` (the ledger signing key, 0600, encrypted with ``$ACCORD_KEY_PASSPHRASE``
when set; reused when it already exists, or taken from ``--signing-key``) and
``{org}.pub.json``; and ``{org}.card.json``, the one file to hand over. Private keys
never leave the machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from accord.cli._errors import guarded
from accord.core import MEMBER_ROLES, ConfigError
from accord.crypto import (
    PASSPHRASE_ENV,
    Identity,
    enroll,
    key_paths,
    load_identity,
    new_identity,
    save_identity,
    write_card,
)

__all__ = [
    "enroll_hub",
    "enroll_member",
    "enroll_researcher",
    "enroll_site",
    "member_app",
    "researcher_app",
]

member_app = typer.Typer(
    help="A member's own keys and public card (run on the member's machine).",
    no_args_is_help=True,
)
researcher_app = typer.Typer(help="A researcher's own keys and card.", no_args_is_help=True)
_console = Console(highlight=False)

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
OrgOpt = Annotated[str, typer.Option("--org", help="Organisation name, e.g. hospital-a.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for the keys and the card.")]
HostOpt = Annotated[
    list[str] | None,
    typer.Option("--host", help="Host name or IP the TLS certificate covers (the hub); repeat."),
]
SigningKeyOpt = Annotated[
    Path | None,
    typer.Option("--signing-key", help="Use this existing ledger signing key ({org}.key)."),
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace an existing TLS key and request.")
]


def _say(text: str) -> None:
    _console.print(text, markup=False, soft_wrap=True)


def _signing_identity(org: str, out: Path, given: Path | None) -> tuple[Identity, bool]:
    """The org's signing key (from ``given``, or ``out/{org}.key``), or a new one; and
    whether it is new (to be saved)."""
    path = given if given is not None else key_paths(out, org)[0]
    if given is None and not path.exists():
        return new_identity(org), True
    identity = load_identity(path)
    if identity.org != org:
        raise ConfigError(f"{path}: is the signing key of {identity.org!r}, not of {org!r}")
    return identity, False


def _enroll(role: str, org: str, out: Path, hosts: list[str], key: Path | None, over: bool) -> None:
    if role not in MEMBER_ROLES:
        raise ConfigError(f"--role {role!r}: expected one of {', '.join(MEMBER_ROLES)}")
    if role == "hub" and not hosts:
        raise ConfigError("the hub's certificate needs --host NAME (each name sites connect to)")
    identity, fresh = _signing_identity(org, out, key)
    tls_key, csr = enroll(out, org, hosts=hosts, overwrite=over)
    if fresh:
        signing, public = save_identity(identity, out)
    else:
        signing, public = key if key is not None else key_paths(out, org)[0], None
    card = write_card(out, identity.public, role, csr.read_text(encoding="ascii"))
    _say(f"{org} ({role}), signing key id {identity.key_id}")
    _say(f"private: {tls_key}  (TLS key; stays on this machine, mode 0600)")
    reused = "" if fresh else ", reused"
    _say(f"private: {signing}  (ledger signing key; stays on this machine{reused})")
    for path in (csr, public):
        if path is not None:
            _say(f"public:  {path}")
    _say(f"hand over: {card}  (the only file to send: to the hub operator and the CA)")
    if not os.environ.get(PASSPHRASE_ENV):
        _say(f"note: the private keys are unencrypted; set {PASSPHRASE_ENV} to encrypt them")


@member_app.command("enroll")
def enroll_member(
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(MEMBER_ROLES)}.")],
    org: OrgOpt,
    out: OutOpt,
    host: HostOpt = None,
    signing_key: SigningKeyOpt = None,
    overwrite: OverwriteOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Make this organisation's TLS key, signing key and public card ({org}.card.json)."""
    guarded(debug, lambda: _enroll(role, org, out, host or [], signing_key, overwrite))


def _enroll_as(role: str, doc: str) -> Callable[..., None]:
    """The ``enroll`` command of one role (``site enroll``, ``researcher enroll``, ...)."""

    def command(
        org: OrgOpt,
        out: OutOpt,
        host: HostOpt = None,
        signing_key: SigningKeyOpt = None,
        overwrite: OverwriteOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        guarded(debug, lambda: _enroll(role, org, out, host or [], signing_key, overwrite))

    command.__doc__ = doc
    return command


enroll_site = _enroll_as(
    "site", "Make this site's TLS key, signing key and public card (member enroll --role site)."
)
enroll_researcher = _enroll_as(
    "researcher", "Make this researcher's keys and public card (member enroll --role researcher)."
)
enroll_hub = _enroll_as(
    "hub",
    "Make the hub's keys and card in HUBDIR (member enroll --role hub; --host is required), "
    "before ``consortium init HUBDIR``.",
)
researcher_app.command("enroll")(enroll_researcher)
