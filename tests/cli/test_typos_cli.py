"""A battery of typos and wrong paths, one per command a person runs first (#18).

Each must end with the documented exit code of its error class and one ``error:`` line
that names the file (its full path) and, for a misspelt key, its dotted path and the key
meant, and no traceback. Typos are in every TOML a person writes: a study, ``hub.toml``,
``site.toml`` and its ``[policy]``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.core import ConfigError, KeyFileError, MissingFileError
from tests.conftest import synthetic_cohort, write_study

runner = CliRunner(env={"COLUMNS": "300"})
STUDIES = Path(__file__).resolve().parents[2] / "studies"

SITE = """[site]
org = "hospital_a"
hub = "http://127.0.0.1:9"

[tls]
insecure = true
"""
HUB = """[hub]
listen = "127.0.0.1:0"
run = "run"
study = "study.toml"
"""


def _study(tmp: Path, typo: tuple[str, str] | None = None) -> Path:
    path = write_study(tmp, "fedavg", rounds=1, baselines="[]")
    if typo is not None:
        old, new = typo
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))
    return path


def _write(tmp: Path, name: str, text: str) -> Path:
    (tmp / name).write_text(text)
    return tmp / name


# name: (how to make the input in tmp -> argv, exit code, what the one line must hold)
CASES = {
    "study key typo": (
        lambda t: ["run", str(_study(t, ("[training]\n", "[training]\nrouns = 2\n"))),
                   "--data", str(t), "--out", str(t / "o")],
        ConfigError.exit_code,
        ["study.toml: field 'training.rouns': unknown key (did you mean 'rounds'?)"],
    ),
    "study table typo": (
        lambda t: ["run", str(_study(t, ("[training]", "[trainig]"))), "--data", str(t)],
        ConfigError.exit_code,
        ["field 'trainig': unknown key (did you mean 'training'?)"],
    ),
    "study file missing": (
        lambda t: ["run", str(t / "nope.toml"), "--data", str(t)],
        MissingFileError.exit_code,
        ["{tmp}/nope.toml: no such study file"],
    ),
    "data folder missing": (
        lambda t: ["run", str(_study(t)), "--data", str(t / "nope"), "--out", str(t / "o")],
        MissingFileError.exit_code,
        ["{tmp}/nope: no such data folder (for cohort.csv)"],
    ),
    "site folders missing": (
        lambda t: ["run", str(STUDIES / "hcc-resection-survival.toml"), "--data", str(t / "nope")],
        MissingFileError.exit_code,
        ["{tmp}/nope: no such data folder (of site folders)"],
    ),
    "cohort file missing": (
        lambda t: ["run", str(_study(t, ('"cohort.csv"', '"cohort2.csv"'))), "--data", str(t)],
        MissingFileError.exit_code,
        ["cohort2.csv: file not found in the data folder {tmp}"],
    ),
    "built-in study typo": (
        lambda t: ["run", "lung-dem"],
        ConfigError.exit_code,
        ["no built-in study 'lung-dem' (did you mean 'lung-demo'?)"],
    ),
    "ledger verify missing": (
        lambda t: ["ledger", "verify", str(t / "missing.sqlite")],
        MissingFileError.exit_code,
        ["{tmp}/missing.sqlite: no such ledger store or bundle"],
    ),
    "ledger show missing": (
        lambda t: ["ledger", "show", str(t / "missing.sqlite")],
        MissingFileError.exit_code,
        ["{tmp}/missing.sqlite: no such ledger store or bundle"],
    ),
    "ledger prove missing": (
        lambda t: ["ledger", "prove", str(t / "missing.sqlite"), "0"],
        MissingFileError.exit_code,
        ["{tmp}/missing.sqlite: no such ledger store"],
    ),
    "hub.toml missing": (
        lambda t: ["hub", "serve", "--config", str(t / "hub.toml")],
        MissingFileError.exit_code,
        ["{tmp}/hub.toml: no such hub config"],
    ),
    "hub.toml key typo": (
        lambda t: ["hub", "serve", "--config", str(_write(t, "hub.toml", HUB + "timout = 5\n"))],
        ConfigError.exit_code,
        ["hub.toml: field 'hub.timout': unknown key (did you mean 'timeout'?)"],
    ),
    "hub.toml table typo": (
        lambda t: ["hub", "serve", "--config", str(_write(t, "hub.toml", HUB + "[limit]\n"))],
        ConfigError.exit_code,
        ["hub.toml: field 'limit': unknown key (did you mean 'limits'?)"],
    ),
    "site.toml missing": (
        lambda t: ["site", "serve", "--config", str(t / "site.toml")],
        MissingFileError.exit_code,
        ["{tmp}/site.toml: no such site config"],
    ),
    "site.toml key typo": (
        lambda t: ["site", "serve", "--config",
                   str(_write(t, "site.toml", SITE.replace("org =", "orgg =")))],
        ConfigError.exit_code,
        ["site.toml: field 'site.orgg': unknown key (did you mean 'org'?)"],
    ),
    "site policy typo": (
        lambda t: ["site", "prune", "--dry-run", "--config",
                   str(_write(t, "site.toml", SITE + "[policy]\nmax_round = 3\n"))],
        ConfigError.exit_code,
        ["site.toml: field 'policy.max_round'", "did you mean 'max_rounds'?"],
    ),
    "public identity missing": (
        lambda t: ["keys", "show", str(t / "nope.pub.json")],
        KeyFileError.exit_code,
        ["nope.pub.json: no such public identity file in {tmp}"],
    ),
    "workspace missing": (
        lambda t: ["site", "functions", "--hub", str(t / "ws"), "--site", "s"],
        ConfigError.exit_code,
        ["--hub {tmp}/ws: not a consortium workspace"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_typo_or_wrong_path_is_one_line_naming_it(case: str, tmp_path: Path) -> None:
    make, code, wanted = CASES[case]
    synthetic_cohort(n_per_site=20, sites=2).to_csv(tmp_path / "cohort.csv", index=False)
    result = runner.invoke(app, make(tmp_path))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in wanted:
        assert part.format(tmp=tmp_path) in lines[0], lines[0]
    assert result.exit_code == code, lines[0]
