"""``accord keys``: create and inspect organisation signing keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from accord.cli._errors import guarded
from accord.crypto import (
    PASSPHRASE_ENV,
    PublicIdentity,
    load_identity,
    load_public,
    new_identity,
    save_identity,
)

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Organisation signing keys", no_args_is_help=True)
_console = Console(highlight=False)

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]


def _say(text: str) -> None:
    _console.print(text, markup=False, soft_wrap=True)


def _create(org: str, out: Path, overwrite: bool) -> None:
    identity = new_identity(org)
    key_path, pub_path = save_identity(identity, out, overwrite=overwrite)
    _say(f"key id:  {identity.key_id}")
    _say(f"private: {key_path}  (keep it on this site; mode 0600)")
    _say(f"public:  {pub_path}  (share it with the consortium)")
    if not os.environ.get(PASSPHRASE_ENV):
        _say(f"note: the private key is unencrypted; set {PASSPHRASE_ENV} to encrypt it")


@keys_app.command()
def new(
    org: Annotated[str, typer.Option("--org", help="Organisation name, e.g. hospital-a.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for {org}.key and {org}.pub.json.")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing key file.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Create a new Ed25519 signing key for an organisation."""
    guarded(debug, lambda: _create(org, out, overwrite))


def _read_public(path: Path) -> PublicIdentity:
    if path.name.endswith(".pub.json"):
        return load_public(path)
    return load_identity(path).public


def _show(path: Path) -> None:
    public = _read_public(path)
    fields = public.to_dict()
    _say(f"org:        {fields['org']}")
    _say(f"key id:     {fields['key_id']}")
    _say(f"public key: {fields['public_key']}")


@keys_app.command()
def show(
    path: Annotated[Path, typer.Argument(help="A .pub.json public identity or a .key file.")],
    debug: DebugOpt = False,
) -> None:
    """Print a key's organisation, key id and public key (never the private key)."""
    guarded(debug, lambda: _show(path))
