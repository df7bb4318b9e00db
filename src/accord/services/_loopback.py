"""``accord run STUDY --processes``: the hub in this process, one OS process per site.

Everything a deployment does, on one machine over loopback: a fresh consortium CA issues
the hub's and every site's TLS certificate; the hub serves its task queue and the ledger
over HTTPS with mutual TLS (:class:`~accord.services._hub_service.HubService`); each site
runs ``accord site serve`` in its own process with its own key, policy, verified ledger
replica and data, and only ever opens connections to the hub. The study then runs exactly
as in simulation — the same :class:`~accord.studies._federated_run.StudyRun`, the same Hub round
loop — so the two give the same numbers for the same seed (tested). Reference baselines
that need all rows in one place (pooled, local-only, the oracle) are computed by this
harness as in simulation.

Layout under OUT::

    pki/ca/ca.crt, ca.key               the consortium CA (key 0600)
    hub/hub.crt, hub.tls.key, queue.sqlite, queue.blobs/
    sites/NAME/site.toml, NAME.key, tls/, ledger.sqlite, spool/, features/, site.log
    study.json                          the study every site runs
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accord.core import StudySpec
from accord.crypto import enroll, init_ca, save_identity, sign_request
from accord.data import load_cohort
from accord.fl import LedgerRecorder
from accord.fl.governance import SitePolicy
from accord.ledger import load_anchor, write_anchor
from accord.services._hub_service import HubService
from accord.studies import RESEARCHER_ORG, Consortium, RunLedger

__all__ = [
    "LoopbackConsortium",
    "issue_certificates",
    "policy_toml",
    "prepare_hub_process",
    "spawn",
    "start_loopback",
    "stop_processes",
    "write_site_config",
]

HOST = "127.0.0.1"


def issue_certificates(out: Path, study: StudySpec, orgs: list[str]) -> Path:
    """A fresh CA under ``out/pki/ca`` and a certificate for the hub (``out/hub``) and for
    every site (``out/sites/NAME/tls``); returns the CA folder."""
    ca_dir = out / "pki" / "ca"
    if not (ca_dir / "ca.crt").exists():
        init_ca(ca_dir, f"{study.study.name} (loopback)")
    hub_dir = out / "hub"
    enroll(hub_dir, "hub", hosts=[HOST, "localhost"], overwrite=True)
    sign_request(ca_dir, hub_dir / "hub.csr", hub_dir, days=2)
    researcher = out / "keys"  # the consortium operator's client certificate (revocations)
    enroll(researcher, RESEARCHER_ORG, overwrite=True)
    sign_request(ca_dir, researcher / f"{RESEARCHER_ORG}.csr", researcher, days=2)
    (researcher / "ca.crt").write_bytes((ca_dir / "ca.crt").read_bytes())
    for org in orgs:
        tls_dir = out / "sites" / org / "tls"
        enroll(tls_dir, org, overwrite=True)
        sign_request(ca_dir, tls_dir / f"{org}.csr", tls_dir, days=2)
        (tls_dir / "ca.crt").write_bytes((ca_dir / "ca.crt").read_bytes())
    return ca_dir


class LoopbackConsortium:
    """A :class:`HubService` in this process and ``accord site serve`` for every site."""

    def __init__(
        self,
        out: Path,
        study: StudySpec,
        data: Path | None,
        seed: int,
        audit: RunLedger,
        *,
        insecure: bool = False,
        timeout_s: float = 600.0,
        poll_wait_s: float = 5.0,
    ) -> None:
        self.out = out
        self.study = study
        self.data = data
        self.seed = seed
        self.audit = audit
        self.insecure = insecure
        self.poll_wait_s = poll_wait_s
        self.sites = sorted(audit.sites)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        tls = None
        if not insecure:
            ca_dir = issue_certificates(out, study, self.sites)
            assert audit.researcher is not None  # a simulation plays the researcher too
            save_identity(audit.researcher, out / "keys", overwrite=True)  # the operator
            hub_dir = out / "hub"
            tls = (hub_dir / "hub.crt", hub_dir / "hub.tls.key", ca_dir / "ca.crt")
        (out / "hub").mkdir(parents=True, exist_ok=True)
        self.hub = HubService(audit, out / "hub", tls=tls, host=HOST, timeout_s=timeout_s)
        self.audit = self.hub.audit  # the run as the hub service now holds it
        self.ledger = self.hub.ledger
        self.url = ""

    def start(self) -> None:
        """Serve the hub and start every site process."""
        self.url = self.hub.start()
        (self.out / "study.json").write_text(self.study.model_dump_json(indent=2), "utf-8")
        for site in self.sites:
            self.start_site(site)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        self.hub.wait_ready(timeout_s, alive=self._dead)

    def _dead(self) -> list[str]:
        return [s for s, p in self.processes.items() if p.poll() is not None]

    def consortium(self, recorder: LedgerRecorder | None = None) -> Consortium:
        """The hub's side of this consortium (``Simulation.prepare(network=...)``)."""
        return self.hub.consortium(recorder)

    def site_config(self, site: str) -> Path:
        """Write ``sites/NAME/site.toml`` (and the site's signing key) and return its path."""
        return write_site_config(
            self.out, self.audit, site, self.data, self.url, self.seed, self.insecure
        )

    def start_site(self, site: str) -> subprocess.Popen[bytes]:
        """Start (or restart) ``accord site serve`` for ``site``; output to its site.log."""
        config = self.site_config(site)
        command = [sys.executable, "-m", "accord", "site", "serve", "--config", str(config)]
        command += ["--poll-wait", str(self.poll_wait_s)]
        self.processes[site] = spawn(command, config.parent / "site.log")
        return self.processes[site]

    def kill_site(self, site: str) -> None:
        """SIGKILL a site process (a crash, for fault tests)."""
        process = self.processes[site]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def close(self) -> None:
        """Stop the site processes, then the hub (idempotent)."""
        stop_processes(self.processes.values())
        self.hub.close()


def write_site_config(
    out: Path,
    audit: RunLedger,
    site: str,
    data: Path | None,
    url: str,
    seed: int,
    insecure: bool = False,
) -> Path:
    """``out/sites/NAME/site.toml`` for a site process (and its signing key, 0600).

    Its ``[policy]`` is the documented default (:class:`SitePolicy`), whatever the
    simulated owners decided in-process: a generated file never releases more.
    """
    folder = out / "sites" / site
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / f"{site}.key").exists():
        save_identity(audit.sites[site], folder)
    ledger = ""
    if (out / "anchor.json").is_file():  # the site pins its own copy of the run's anchor
        write_anchor(folder / "anchor.json", load_anchor(out / "anchor.json"))
        ledger = '\n[ledger]\nanchor = "anchor.json"\n'
    tls = "insecure = true\n"
    if not insecure:
        tls = f'cert = "tls/{site}.crt"\nkey = "tls/{site}.tls.key"\nca = "tls/ca.crt"\n'
    text = (
        f"# {site}: written by accord (loopback consortium)\n[site]\n"
        f'org = "{site}"\ndataset = "{audit.datasets[site]}"\n'
        f'data = "{data.resolve() if data else ""}"\n'
        f'hub = "{url}"\nstudy = "{(out / "study.json").resolve()}"\n'
        f"seed = {seed}\n\n[tls]\n{tls}\n"
        "[policy]  # the documented defaults (docs/governance.md); edit to decide otherwise\n"
        f"{policy_toml(SitePolicy().model_dump(mode='json'))}{ledger}"
    )
    path = folder / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def prepare_hub_process(
    study: StudySpec, data: Path | None, out: Path, seed: int, port: int, timeout_s: float = 600.0
) -> tuple[Path, dict[str, Path]]:
    """Everything ``accord hub serve`` and ``accord site serve`` need to run ``study`` as
    separate processes on loopback: the run's ledger, keys, certificates, ``hub/hub.toml``
    (listening on ``port``) and every site's ``site.toml``. Returns their paths."""
    cohort = load_cohort(study.cohort, data, seed, preprocessing=study.preprocessing)
    audit = RunLedger.create(out, study, cohort)
    sites = sorted(audit.sites)
    assert audit.researcher is not None  # a simulation plays the researcher too
    for identity in (audit.hub, audit.researcher):
        save_identity(identity, out / "keys", overwrite=True)
    issue_certificates(out, study, sites)
    (out / "study.json").write_text(study.model_dump_json(indent=2), "utf-8")
    url = f"https://{HOST}:{port}"
    configs = {s: write_site_config(out, audit, s, data, url, seed) for s in sites}
    audit.close()
    hub_toml = out / "hub" / "hub.toml"
    hub_toml.write_text(
        "# written by accord (loopback consortium)\n[hub]\n"
        f'listen = "{HOST}:{port}"\nrun = ".."\nstudy = "../study.json"\n'
        f"seed = {seed}\ntimeout = {timeout_s}\n\n"
        '[tls]\ncert = "hub.crt"\nkey = "hub.tls.key"\nca = "../pki/ca/ca.crt"\n',
        encoding="utf-8",
    )
    return hub_toml, configs


def spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as sink:  # own session: a terminal's Ctrl-C reaches the hub only,
        # which stops at a safe point and then stops its sites (stop_processes)
        return subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def stop_processes(processes: Any) -> None:
    """SIGTERM, then SIGKILL whatever has not stopped within 30 s."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def policy_toml(values: Mapping[str, Any]) -> str:
    """A ``[policy]`` table's body for a site policy's JSON form (kebab-case keys)."""
    lines = []
    for key, value in values.items():
        name = key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{name} = {value}")
        elif isinstance(value, list):
            lines.append(f"{name} = [{', '.join(_quoted(v) for v in value)}]")
        elif isinstance(value, dict):
            items = ", ".join(f"{_quoted(k)} = {_quoted(v)}" for k, v in value.items())
            lines.append(f"{name} = {{ {items} }}")
    return "\n".join(lines) + "\n"


def _quoted(value: object) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def start_loopback(
    study: StudySpec, data: Path | None, out: Path, seed: int, **kw: Any
) -> LoopbackConsortium:
    """Create the run's ledger, serve the hub and start every site; wait until all are up."""
    cohort = load_cohort(study.cohort, data, seed, preprocessing=study.preprocessing)
    audit = RunLedger.create(out, study, cohort)
    harness = LoopbackConsortium(out, study, data, seed, audit, **kw)
    try:
        harness.start()
        harness.wait_ready()
    except BaseException:
        harness.close()
        raise
    return harness
