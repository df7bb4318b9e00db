"""``accord consortium``: found a consortium from public cards, admit and remove members;
or simulate a whole consortium on one machine.

::

    accord consortium init HUBDIR --name hcc --member hub.card.json --member a.card.json ...
    accord consortium admit new-site.card.json --hub-dir HUBDIR
    accord consortium remove hospital-c --reason "left the consortium" --hub-dir HUBDIR
    accord consortium simulate WS --study STUDY [--data DIR]     # every key on this machine

``init``, ``admit`` and ``remove`` run on the hub's machine with the hub's own key
(``HUBDIR/{hub}.key``, made by ``accord hub enroll --out HUBDIR``); they never see
another organisation's private key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from accord.cli._errors import guarded
from accord.core import ConfigError
from accord.crypto import load_card
from accord.studies import (
    admit_member,
    found_consortium,
    init_workspace,
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
    Path, typer.Option("--hub-dir", help="The hub folder (ledger.sqlite, the hub's key).")
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


@consortium_app.command("admit")
def admit(
    card: Annotated[Path, typer.Argument(help="The new member's card ({org}.card.json).")],
    hub_dir: HubDirOpt,
    debug: DebugOpt = False,
) -> None:
    """Admit a member: append member.admitted (signed by the hub) and checkpoint."""

    def action() -> None:
        member = load_card(card)
        seq = admit_member(hub_dir, member)
        _say(f"admitted {member.org} ({member.role}, key {member.key_id}) at entry {seq}")

    guarded(debug, action)


@consortium_app.command("remove")
def remove(
    org: Annotated[str, typer.Argument(help="The member to remove.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in one line.")],
    hub_dir: HubDirOpt,
    debug: DebugOpt = False,
) -> None:
    """Remove a member: append member.removed (signed by the hub); its keys are revoked."""

    def action() -> None:
        seq = remove_member(hub_dir, org, reason)
        _say(f"removed {org} at entry {seq}: every key of {org} is revoked from there")

    guarded(debug, action)
