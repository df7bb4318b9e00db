"""deploy/example/consortium.sh: a real consortium in six folders, real processes (#15).

The CA operator, the hub, three hospitals and a researcher each run only their own
documented commands; the hub runs as its own unprivileged Unix user that cannot read any
other organisation's folder. Every site forces secure aggregation, the owners approve while
the plan waits, a second plan goes to the same running hub, a revoked member is refused.
Then: the figures equal the simulation's, and no file the hub or the researcher holds
contains another organisation's private key or any patient-level value of any site.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "example" / "consortium.sh"
HUB_USER = "accord-hub"
SITES = ("site-a", "site-b", "site-c")

pytestmark = [
    # about 4.5 minutes of real processes: in `make test-slow`, so that `make test` stays
    # within its 15-minute budget on 2 cores
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("runuser") is None,
        reason="runs the hub as its own Unix user: needs root (CI runs as root)",
    ),
]


def _hub_user() -> str:
    try:
        pwd.getpwnam(HUB_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", HUB_USER],
            check=True,
        )
    return HUB_USER


def _let_others_traverse(path: Path) -> list[tuple[Path, int]]:
    """Give every user traverse (not read) permission on each folder above ``path`` that
    lacks it (here: /root, above the pyenv Python the venv runs on), so that the hub's user
    can start the installed accord; returns (folder, old mode) to restore."""
    changed = []
    for folder in reversed(path.parents):
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append((folder, stat.S_IMODE(mode)))
    return changed


@pytest.fixture(scope="module")
def consortium() -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    base = Path(tempfile.mkdtemp(prefix="accord-consortium-", dir="/tmp"))
    base.chmod(0o755)  # the hub's user must reach its own folder
    work = base / "work"
    accord = Path(sys.executable).parent / "accord"
    env = {**os.environ, "ACCORD": str(accord), "ACCORD_HUB_USER": _hub_user()}
    env.pop("ACCORD_KEY_PASSPHRASE", None)
    env["ACCORD_PATIENTS"] = "40"  # every step of the example study, on fewer rows
    study = base / "hcc-study.toml"
    text = (SCRIPT.parent / "hcc-study.toml").read_text()
    study.write_text(
        text.replace("rounds = 5", "rounds = 3").replace("bootstrap = 100", "bootstrap = 50")
    )
    restore = _let_others_traverse(Path(os.path.realpath(sys.executable)))
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), str(work), str(study)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        yield work, done
    finally:
        for folder, mode in restore:
            folder.chmod(mode)
        shutil.rmtree(base, ignore_errors=True)


def _tail(done: subprocess.CompletedProcess[str], work: Path) -> str:
    logs = [f"{p}:\n{p.read_text()[-1500:]}" for p in work.glob("*/*.log")]
    return "\n".join([done.stdout[-3000:], done.stderr[-3000:], *logs])


def test_the_study_finishes_twice_and_equals_the_simulation(consortium) -> None:  # type: ignore[no-untyped-def]
    work, done = consortium
    assert done.returncode == 0, _tail(done, work)
    summary = json.loads((work / "summary.json").read_text())
    assert summary["equal_to_simulation"] is True
    assert [p["status"] for p in summary["plans"].values()] == ["finished", "finished"]
    assert {p["seed"] for p in summary["plans"].values()} == {0, 1}
    for plan in summary["plans"].values():
        assert set(plan["methods"]) == {"fedavg", "clinical_only"}
        assert set(plan["methods"]["fedavg"]["sites"]) == set(SITES)


def test_the_owners_approved_while_the_plan_waited(consortium) -> None:  # type: ignore[no-untyped-def]
    work, done = consortium
    assert done.returncode == 0, _tail(done, work)
    hub_log = (work / "hub" / "hub.log").read_text()
    assert "waiting for approval from site-a, site-b, site-c" in hub_log


def test_the_revoked_member_is_refused_and_the_refusal_is_signed(consortium) -> None:  # type: ignore[no-untyped-def]
    """The operator's revocation and the hub's refusal of site-c are both on the ledger."""
    from accord.ledger import Entry, open_source

    work, done = consortium
    assert done.returncode == 0, _tail(done, work)
    source = open_source(work / "hub" / "ledger.sqlite")
    try:
        entries = [Entry.parse(s.entry) for s in source.entries()]
    finally:
        source.close()
    revoked = [e for e in entries if e.kind == "certificate.revoke"]
    assert [(e.org, e.payload["org"]) for e in revoked] == [("operator", "site-c")]
    refused = [e for e in entries if e.kind == "connection.refused" and e.seq > revoked[0].seq]
    assert refused and all(e.org == "hub" for e in refused)
    assert any("'site-c' has been revoked" in str(e.payload["reason"]) for e in refused)


def test_the_hub_user_cannot_read_any_other_organisations_folder(consortium) -> None:  # type: ignore[no-untyped-def]
    work, done = consortium
    assert done.returncode == 0, _tail(done, work)
    for folder in ("ca", "researcher", *SITES):
        key = next((work / folder).glob("*.key"))
        read = subprocess.run(
            ["runuser", "-u", HUB_USER, "--", "cat", str(key)], capture_output=True
        )
        assert read.returncode != 0, f"the hub's user read {key}"
    assert (work / "hub" / "ledger.sqlite").stat().st_uid == pwd.getpwnam(HUB_USER).pw_uid


def _secrets(work: Path) -> dict[str, bytes]:
    """Every private key file of the CA operator, the researcher and the sites."""
    found: dict[str, bytes] = {}
    for folder in ("ca", "researcher", *SITES):
        for path in (work / folder).glob("*.key"):
            found[str(path.relative_to(work))] = path.read_bytes().strip()
    return found


def _patient_values(work: Path) -> set[bytes]:
    """Each site's patient ids and every distinctive cell of its table (6+ characters),
    but for values the public study itself holds (the signed function archive carries it:
    e.g. the logistic-hazard cut point 1825.0 days, which is also the cohort's
    administrative censoring time)."""
    from accord.core import canonical_json, floats_as_strings, load_study

    study = load_study(SCRIPT.parent / "hcc-study.toml")
    public = canonical_json(floats_as_strings(study.model_dump(mode="json")))
    values: set[bytes] = set()
    for site in SITES:
        table = pd.read_csv(work / site / "data" / "clinical.csv", dtype=str)
        for column in table.columns:
            for cell in table[column].dropna():
                if column == "patient_id" or (len(cell) >= 6 and cell.encode() not in public):
                    values.add(cell.encode())
    return values


def test_no_file_of_the_hub_or_researcher_holds_a_key_or_a_patient_value(consortium) -> None:  # type: ignore[no-untyped-def]
    work, done = consortium
    assert done.returncode == 0, _tail(done, work)
    secrets, values = _secrets(work), _patient_values(work)
    assert secrets and len(values) > 100
    own = {"researcher": "researcher/"}
    leaks: list[str] = []
    for folder in ("hub", "researcher"):
        for path in (work / folder).rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            for name, secret in secrets.items():
                if not name.startswith(own.get(folder, "-")) and secret in data:
                    leaks.append(f"{path.relative_to(work)} holds {name}")
            hits = [v for v in values if v in data]
            if hits:
                leaks.append(f"{path.relative_to(work)} holds {len(hits)} patient value(s)")
    assert not leaks, "\n".join(leaks[:20])
