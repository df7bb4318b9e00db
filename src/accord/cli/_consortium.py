"""``accord consortium``: found a consortium from public cards, admit and remove members;
or simulate a whole consortium on one machine.

::

    accord consortium init HUBDIR --name hcc --member hub.card.json --member a.card.json ...
    accord consortium admit new-site.card.json --hub-dir HUBDIR
    accord consortium remove hospital-c --reason "left the consortium" --hub-dir HUBDIR
    accord consortium admit CARD --hub https://hub:8443 --signing-key op.key --tls tls/
    accord consortium simulate WS --study STUDY [--data DIR]     # every key on this machine

``init``, ``admit`` and ``remove`` run on the hub's machine with the hub's own key
(``HUBDIR/{hub}.key``, made by ``accord hub enroll --out HUBDIR``); they never see
another organisation's private key. ``admit`` and ``remove`` also record at a running hub
with ``--hub URL``, signed by a genesis operator's own key over mutual TLS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from accord.cli._errors import guarded
from accord.cli._hub_record import record_on_hub
from accord.core import ConfigError
from accord.crypto import load_card
from accord.ledger import MEMBER_ADMITTED, MEMBER_REMOVED
from accord.studies import (
    admit_member,
    found_consortium,
    removal_payload,
    remove_member,
    resolve_study,
)

__all__ = ["consortium_app"]

consortium_app = typer.Typer(
    help="Found a consortium from members' cards; admit and remove members; or simulate one.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True, highlight=False)
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
HubDirOpt = Annotated[
    Path | None,
    typer.Option("--hub-dir", help="On the hub's machine: the hub folder (ledger, hub key)."),
]
HubUrlOpt = Annotated[
    str | None, typer.Option("--hub", help="Or a running hub's URL (with --signing-key, --tls).")
]
SigningKeyOpt = Annotated[
    Path | None, typer.Option("--signing-key", help="With --hub: a genesis operator's key file.")
]
TLSOpt = Annotated[
    Path | None,
    typer.Option("--tls", help="With --hub: folder with {org}.crt, {org}.tls.key, ca.crt."),
]


def _say(text: str) -> None:
    console.print(text, markup=False)


def _found(folder: Path, name: str | None, members: list[Path], study: str | None) -> None:
    if study is not None:
        raise ConfigError(
            "consortium init no longer takes --study: it founds a real consortium from "
            "members' cards (--name NAME --member CARD ...); for the one-machine simulation "
            "with every organisation's key here, run `accord consortium simulate WS --study "
            f"{study}`"
        )
    if name is None or not members:
        raise ConfigError("consortium init needs --name NAME and --member CARD (repeat)")
    founding = found_consortium(folder, name, [load_card(path) for path in members])
    anchor = founding.anchor
    _say(f"consortium '{name}' founded in {folder}: hub {anchor.hub}, {len(members)} members")
    _say(f"ledger:  {founding.ledger}  (genesis from the cards, checkpointed)")
    _say(f"anchor:  {founding.anchor_file}  genesis {anchor.genesis}")
    _say(
        "hand anchor.json to every member out of band; each pins it (and compares the "
        "genesis hash above) before trusting the hub"
    )


@consortium_app.command("init")
def init(
    folder: Annotated[Path, typer.Argument(help="The hub folder (HUBDIR) holding the hub's key.")],
    name: Annotated[str | None, typer.Option("--name", help="The consortium's name.")] = None,
    member: Annotated[
        list[Path] | None,
        typer.Option("--member", help="A member's card ({org}.card.json); repeat, hub included."),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", hidden=True, help="Refused: use `simulate`.")
    ] = None,
    data: Annotated[Path | None, typer.Option("--data", hidden=True)] = None,
    debug: DebugOpt = False,
) -> None:
    """Write the genesis from members' public cards alone (run by the hub operator)."""
    guarded(debug, lambda: _found(folder, name, member or [], study))


@consortium_app.command("simulate")
def simulate(
    folder: Annotated[Path, typer.Argument(help="new workspace folder")],
    study: Annotated[str, typer.Option("--study", help="study whose cohort defines the sites")],
    data: Annotated[Path | None, typer.Option("--data", help="cohort data folder")] = None,
    debug: DebugOpt = False,
) -> None:
    """A simulated consortium on this machine: every organisation's key, genesis, datasets."""

    def action() -> None:
        from accord.studies import init_workspace  # imports pandas: here, not at startup

        init_workspace(folder, resolve_study(study), data)
        manifest = json.loads((folder / "consortium.json").read_text())
        console.print(f"consortium '{manifest['name']}' simulated in {folder}")
        console.print(
            "simulation: every organisation's private key is on this machine; "
            "for a real consortium each member runs `accord member enroll` on its own"
        )
        for site, dataset in manifest["sites"].items():
            console.print(f"  site {site}: dataset {dataset}, config sites/{site}/site.toml")

    guarded(debug, action)


def _hub_folder(hub_dir: Path | None, hub: str | None) -> Path | None:
    """The hub folder to append in, or None to record at ``hub`` (exactly one is given)."""
    if (hub_dir is None) == (hub is None):
        raise ConfigError(
            "give --hub-dir HUBDIR (on the hub's machine, signed by the hub) or --hub URL "
            "--signing-key KEY --tls DIR (signed by a genesis operator's own key)"
        )
    return hub_dir


def _where(hub_dir: Path | None, hub: str | None, seq: int) -> str:
    return f"entry {seq} in {hub_dir / 'ledger.sqlite'}" if hub_dir else f"entry {seq} at {hub}"


@consortium_app.command("admit")
def admit(
    card: Annotated[Path, typer.Argument(help="The new member's card ({org}.card.json).")],
    hub_dir: HubDirOpt = None,
    hub: HubUrlOpt = None,
    signing_key: SigningKeyOpt = None,
    tls: TLSOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Admit a member: append member.admitted, signed by the hub (--hub-dir) or by an
    operator's own key at a running hub (--hub)."""

    def action() -> None:
        folder = _hub_folder(hub_dir, hub)
        member = load_card(card)
        if folder is not None:
            seq = admit_member(folder, member)
        else:
            seq = record_on_hub(str(hub), signing_key, tls, MEMBER_ADMITTED, member.organisation())
        who = f"{member.org} ({member.role}, key {member.key_id})"
        _say(f"admitted {who}: {_where(folder, hub, seq)}")

    guarded(debug, action)


@consortium_app.command("remove")
def remove(
    org: Annotated[str, typer.Argument(help="The member to remove.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in one line.")],
    hub_dir: HubDirOpt = None,
    hub: HubUrlOpt = None,
    signing_key: SigningKeyOpt = None,
    tls: TLSOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Remove a member: append member.removed (every key of ORG is revoked from there),
    signed by the hub (--hub-dir) or by an operator's own key at a running hub (--hub)."""

    def action() -> None:
        folder = _hub_folder(hub_dir, hub)
        if folder is not None:
            seq = remove_member(folder, org, reason)
        else:
            payload = removal_payload(org, reason)
            seq = record_on_hub(str(hub), signing_key, tls, MEMBER_REMOVED, payload)
        _say(f"removed {org}: {_where(folder, hub, seq)}; every key of {org} is revoked there")

    guarded(debug, action)
