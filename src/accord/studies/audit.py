"""The ledger of a simulated run: identities, the hub's log, each site's replica.

``OUT/ledger.sqlite`` is the hub's log; ``OUT/sites/NAME/ledger.sqlite`` each site's
replica, which pulls, verifies and co-signs the hub's checkpoints. A simulation generates
fresh organisation keys (the public halves are in the genesis entry); a deployment loads
each organisation's key file instead.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from accord.core.ids import new_id
from accord.crypto import Identity, new_identity
from accord.fl.recording import LedgerRecorder
from accord.ledger.log import HubLedger, genesis_payload
from accord.ledger.replica import SiteReplica
from accord.ledger.store import SQLiteLedgerStore
from accord.studies.jsonio import write_json_atomic

__all__ = ["RunLedger"]

HUB_ORG = "hub"
RESEARCHER_ORG = "researcher"


def _archive_previous(out: Path) -> None:
    """Never delete an earlier run's ledger: move it under OUT/archive/<time>/."""
    old = [p for p in (out / "ledger.sqlite", out / "sites", out / "keys") if p.exists()]
    if not old:
        return
    target = out / "archive" / time.strftime("%Y%m%dT%H%M%S")
    target.mkdir(parents=True, exist_ok=True)
    for path in out.glob("ledger.sqlite*"):
        shutil.move(str(path), target / path.name)
    for folder in ("sites", "keys"):
        if (out / folder).exists():
            shutil.move(str(out / folder), target / folder)


@dataclass
class RunLedger:
    hub: Identity
    researcher: Identity
    sites: dict[str, Identity]
    ledger: HubLedger
    recorder: LedgerRecorder
    replicas: dict[str, SiteReplica]
    path: Path

    @classmethod
    def create(
        cls, out: Path, consortium: str, site_names: Sequence[str], min_cell_count: int
    ) -> RunLedger:
        out.mkdir(parents=True, exist_ok=True)
        _archive_previous(out)
        hub, researcher = new_identity(HUB_ORG), new_identity(RESEARCHER_ORG)
        sites = {name: new_identity(name) for name in site_names}
        orgs = [hub, researcher, *sites.values()]
        for identity in orgs:  # public halves only, for auditors (`check-proof --hub-key`)
            write_json_atomic(out / "keys" / f"{identity.org}.pub.json", identity.public.to_dict())
        genesis = genesis_payload(consortium, HUB_ORG, [o.public.to_dict() for o in orgs])
        store = SQLiteLedgerStore(out / "ledger.sqlite")
        ledger = HubLedger.create(store, hub, new_id("log"), genesis)
        replicas = {}
        for name, identity in sites.items():
            folder = out / "sites" / name
            folder.mkdir(parents=True, exist_ok=True)
            replicas[name] = SiteReplica(SQLiteLedgerStore(folder / "ledger.sqlite"), identity)
        recorder = LedgerRecorder(ledger, hub, min_cell_count)
        return cls(hub, researcher, sites, ledger, recorder, replicas, out / "ledger.sqlite")

    def checkpoint_and_cosign(self) -> int:
        """The hub signs (size, root); every site pulls, verifies and co-signs it."""
        cp = self.ledger.checkpoint()
        for replica in self.replicas.values():
            replica.sync(self.ledger)
        return cp.size

    def close(self) -> None:
        self.ledger.store.close()
        for replica in self.replicas.values():
            replica.store.close()
