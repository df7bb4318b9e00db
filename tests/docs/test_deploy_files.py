"""The files under deploy/ are true: the systemd units run real accord commands with the
hardening docs/operations.md promises, the Containerfile copies files that exist and runs
a real command, and the container's health check asks a real hub."""

from __future__ import annotations

import configparser
import importlib.util
import re
import shlex
import threading
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from accord.core import load_study
from accord.data import load_cohort
from accord.services import HubService, issue_certificates
from accord.studies import RunLedger
from tests.conftest import synthetic_cohort, write_study
from tests.docs.cli_commands import check_command

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "Restart": "on-failure",
    "KillSignal": "SIGTERM",
}


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_there_is_a_hub_unit_and_a_site_template() -> None:
    assert [u.name for u in UNITS] == ["accord-hub.service", "accord-site@.service"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_runs_a_real_accord_command_unprivileged_and_hardened(path: Path) -> None:
    service = _unit(path)["Service"]
    argv = shlex.split(service["ExecStart"].replace("%i", "hospital_0"))
    assert Path(argv[0]).name == "accord"
    check_command(argv[1:])
    config = Path(argv[argv.index("--config") + 1])
    assert service["ReadWritePaths"].replace("%i", "hospital_0") == str(config.parent)
    assert service["User"] == "accord" and service["User"] != "root"
    for key, value in HARDENING.items():
        assert service[key] == value, key
    assert int(service["TimeoutStopSec"]) >= 60  # a site's long poll ends within 25 s
    assert service["EnvironmentFile"].startswith("-/etc/accord/")
    assert "ACCORD_KEY_PASSPHRASE" in (DEPLOY / "systemd" / "accord.env.example").read_text()


def test_the_containerfile_copies_files_that_exist_and_runs_a_real_command() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n\s*", " ", text)  # continuation lines
    instructions = re.findall(r"^([A-Z]+) (.*)$", joined, re.M)
    copied = [args.split()[:-1] for kind, args in instructions if kind == "COPY"]
    assert copied
    for sources in copied:
        for source in sources:
            assert (ROOT / source).exists(), source
    entry = [args for kind, args in instructions if kind == "ENTRYPOINT"]
    assert [tomllib.loads(f"x = {e}")["x"] for e in entry] == [["accord"]]
    cmd = [tomllib.loads(f"x = {args}")["x"] for kind, args in instructions if kind == "CMD"]
    check_command(cmd[0])
    user = [args for kind, args in instructions if kind == "USER"]
    assert user == ["accord"]
    torch = re.search(r'"torch==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert torch is not None and f"torch=={torch.group(1)}" in text  # the project's pin
    check = next(args for kind, args in instructions if kind == "HEALTHCHECK")
    assert "/opt/accord/healthcheck.py" in check and "COPY deploy/healthcheck.py" in text


def _healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", DEPLOY / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_health_check_asks_a_real_hub_over_mutual_tls(tmp_path: Path) -> None:
    synthetic_cohort(n_per_site=20, sites=2).to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy="fedavg", rounds=1, baselines="[]"))
    out = tmp_path / "out"
    audit = RunLedger.create(out, study, load_cohort(study.cohort, tmp_path, 0))
    issue_certificates(out, study, sorted(audit.sites))
    hub = out / "hub"
    tls = (hub / "hub.crt", hub / "hub.tls.key", out / "pki" / "ca" / "ca.crt")
    service = HubService(audit, hub, tls=tls, stop=threading.Event())
    check = _healthcheck()
    config = hub / "hub.toml"
    try:
        service.start()
        config.write_text(
            f'[hub]\nlisten = "127.0.0.1:{service.port}"\nrun = ".."\nstudy = "x"\n'
            '[tls]\ncert = "hub.crt"\nkey = "hub.tls.key"\nca = "../pki/ca/ca.crt"\n'
        )
        assert check.probe(config) is None
        assert check.main(["healthcheck.py", str(config)]) == 0
    finally:
        service.stop.set()
        service.close()
    assert "unreachable" in (check.probe(config) or "")
    assert check.main(["healthcheck.py", str(tmp_path / "missing.toml")]) == 1
