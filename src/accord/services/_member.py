"""A member's own connection to the hub: its config, key, TLS client and verified replica.

Sites, researchers and the consortium operator each talk to the hub from their own
machine with their own credentials. A researcher's ``researcher.toml``::

    [researcher]
    org = "lab"
    hub = "https://hub.example.org:8443"
    key = "lab.key"                 # default ORG.key beside the config

    [tls]
    cert = "lab.crt"
    key = "lab.tls.key"
    ca = "ca.crt"

    [ledger]
    anchor = "anchor.json"          # the consortium's anchor, compared out of band

A site's ``site.toml`` holds the same fields in its ``[site]`` table (and more, see
:mod:`._site_service`); an operator's config uses ``[operator]``. :func:`member_session`
opens the member's view of the hub: an HTTPS client with its certificate and a replica of
the hub's log, pulled and verified against the pinned anchor before anything is read or
signed (the hub is not trusted).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from accord.core import ConfigError, check_keys
from accord.crypto import Identity, client_context, load_identity
from accord.fl.governance import GovernanceView
from accord.ledger import EVIDENCE_DIR, Entry, SiteReplica, SQLiteLedgerStore, load_anchor
from accord.net import SITE_HEADER, RemoteHub, RemoteLedger
from accord.services._service_config import (
    TLSPaths,
    hub_url,
    read_toml,
    relative,
    table,
    tls_paths,
)

__all__ = ["MEMBER_TABLES", "MemberConfig", "MemberSession", "member_session", "read_member_config"]

MEMBER_TABLES = ("researcher", "operator", "site")
_KEYS = ("org", "hub", "key")


@dataclass(frozen=True)
class MemberConfig:
    org: str
    hub: str
    folder: Path
    key: Path
    tls: TLSPaths | None
    anchor: Path | None


def read_member_config(path: Path, allowed: tuple[str, ...] = MEMBER_TABLES) -> MemberConfig:
    """The member fields of ``path`` (``[researcher]``, ``[operator]`` or ``[site]``).

    A site's config has more keys; only a researcher's or operator's is checked whole.
    """
    data = read_toml(path, "member config")
    folder = path.parent.resolve()
    found = [name for name in allowed if name in data]
    if len(found) != 1:
        names = " or ".join(f"[{n}]" for n in allowed)
        raise ConfigError(f"{path}: expected exactly one {names} table")
    section = table(data, found[0], path)
    if found[0] != "site":
        check_keys(data, (found[0], "tls", "ledger"), path, "")
        check_keys(section, _KEYS, path, found[0])
    for key in ("org", "hub"):
        if not isinstance(section.get(key), str) or not section[key]:
            raise ConfigError(f"{path}: field '{found[0]}.{key}': expected a non-empty string")
    tls = tls_paths(data, folder, path)
    ledger = table(data, "ledger", path, {})
    if found[0] != "site":
        check_keys(ledger, ("anchor",), path, "ledger")
    anchor = ledger.get("anchor")
    if anchor is not None and (not isinstance(anchor, str) or not anchor):
        raise ConfigError(f"{path}: field 'ledger.anchor': expected a file path")
    org: str = section["org"]
    key_file = section.get("key") if found[0] != "site" else None
    if key_file is not None and (not isinstance(key_file, str) or not key_file):
        raise ConfigError(f"{path}: field '{found[0]}.key': expected a file path")
    return MemberConfig(
        org=org,
        hub=hub_url(section["hub"], tls, path, f"{found[0]}.hub"),
        folder=folder,
        key=relative(folder, key_file) if key_file else folder / f"{org}.key",
        tls=tls,
        anchor=relative(folder, anchor) if anchor else None,
    )


@dataclass
class MemberSession:
    """A member's identity, its HTTPS client to the hub and its verified replica."""

    config: MemberConfig
    identity: Identity
    http: httpx.Client
    replica: SiteReplica

    def view(self) -> GovernanceView:
        """Pull and verify the hub's log, then replay it (refused entries have no effect)."""
        self.replica.pull(RemoteHub(self.http))
        view = GovernanceView()
        for stored in self.replica.store.read():
            with contextlib.suppress(Exception):
                view.apply(Entry.parse(stored.entry))
        return view

    def entries(self) -> list[Entry]:
        """Every verified entry of the replica (after :meth:`view` or a pull)."""
        return [Entry.parse(s.entry) for s in self.replica.store.read()]

    def record(self, kind: str, payload: Mapping[str, Any]) -> int:
        """Sign ``kind`` with this member's key and have the hub append it; its seq."""
        remote = RemoteLedger(self.http, keys=lambda: self.replica.verifier.registry)
        return int(remote.record(self.identity, kind, payload).seq)


def member_client(config: MemberConfig) -> httpx.Client:
    """An HTTPS client to the hub with this member's certificate (mutual TLS)."""
    context = client_context(*config.tls) if config.tls else None
    return httpx.Client(
        base_url=config.hub,
        verify=context if context is not None else True,
        headers={SITE_HEADER: config.org},
        timeout=httpx.Timeout(60.0),
    )


@contextlib.contextmanager
def member_session(
    config: MemberConfig, replica_path: Path | None = None
) -> Iterator[MemberSession]:
    """The member's session; its replica at ``replica_path`` (default: a scratch one that
    pulls the whole log, so a running site process keeps its own replica untouched)."""
    identity = load_identity(config.key)
    if identity.org != config.org:
        raise ConfigError(f"{config.key}: the key of '{identity.org}', not of '{config.org}'")
    anchor = load_anchor(config.anchor) if config.anchor is not None else None
    with contextlib.ExitStack() as stack:
        if replica_path is None:
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="accord-member-"))
            replica_path = Path(scratch) / "ledger.sqlite"
        http = stack.enter_context(member_client(config))
        store = SQLiteLedgerStore(replica_path)
        stack.callback(store.close)
        replica = SiteReplica(
            store, identity, anchor=anchor, evidence_dir=config.folder / EVIDENCE_DIR
        )
        yield MemberSession(config, identity, http, replica)
