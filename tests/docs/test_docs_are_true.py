"""The docs' examples parse and run."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from accord.core import DEFAULT_TIME_BINS_DAYS, ModelSpec, PrivacySpec
from accord.core._config import parse_study
from accord.net import DEFAULT_LIMITS
from accord.services import read_hub_config, read_member_config, read_service_config
from accord.services._hub_process import read_limits
from accord.services._retention import AreaLimit, RetentionPolicy
from accord.studies import BUILTIN_STUDIES, builtin_study
from tests.docs.cli_commands import accord_lines, check_command

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_study_example_is_a_valid_study() -> None:
    text = (ROOT / "docs" / "quickstart.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    spec = parse_study(tomllib.loads(block.group(1)), "docs/quickstart.md")
    assert spec.training.strategy == "newton_raphson"


def test_readme_starts_with_the_two_commands() -> None:
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if line.strip()]
    assert lines[1:5] == ["```", "make demo", "make test", "```"]


DOC_OF = {"hcc-resection-survival": "hcc"}  # the issue names the page docs/studies/hcc.md


def test_builtin_studies_load_and_are_linked_from_studies_folder() -> None:
    for name in BUILTIN_STUDIES:
        assert builtin_study(name).study.name == name
        assert (ROOT / "studies" / f"{name}.toml").exists()
        doc = DOC_OF.get(name, name)
        assert (ROOT / "docs" / "studies" / f"{doc}.md").exists()


def test_every_test_the_privacy_threat_model_cites_exists() -> None:
    cited = set(re.findall(r"`(test_\w+)`", (ROOT / "docs" / "privacy.md").read_text()))
    assert len(cited) >= 25
    defined = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r"^\s*def (test_\w+)", path.read_text(), re.M)
    }
    assert sorted(cited - defined) == []
    # and the settings block is a valid [privacy] table
    text = (ROOT / "docs" / "privacy.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    privacy = PrivacySpec.model_validate(tomllib.loads(block.group(1))["privacy"])
    defaults = PrivacySpec()
    assert privacy.secagg_clip == defaults.secagg_clip  # the doc shows the defaults
    assert privacy.secagg_fraction_bits == defaults.secagg_fraction_bits
    model = ModelSpec.model_validate(tomllib.loads(block.group(1))["model"])
    assert model.time_bins_days == DEFAULT_TIME_BINS_DAYS  # DP-SGD's loss, default cuts


def test_the_deployment_guide_lists_the_hubs_default_limits(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text.split("## Limits", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block is not None
    limits = tomllib.loads(block.group(1))
    assert set(limits["limits"]) == set(DEFAULT_LIMITS.__dataclass_fields__)
    assert read_limits(limits, tmp_path / "hub.toml") == DEFAULT_LIMITS
    for key in limits["limits"]:
        assert f"`{key}`" in section  # each one says what a site sees


def test_the_deployment_guides_site_and_hub_configs_are_read_as_written(tmp_path: Path) -> None:
    """Every ``[site]``/``[hub]``/``[researcher]`` TOML example in the deployment guide and
    the governance page is a config the services accept (an unknown key would be refused)."""
    checked = 0
    for page in ("deployment.md", "governance.md", "operations.md"):
        text = (ROOT / "docs" / page).read_text()
        for block in re.findall(r"```toml\n(.*?)```", text, re.S):
            path = tmp_path / f"{page}.{checked}.toml"
            path.write_text(block)
            if block.startswith("[site]"):
                config = read_service_config(path)
                assert config.org and (config.study is None) == (config.dataset is None)
                checked += 1
            elif block.startswith("[hub]"):
                assert read_hub_config(path).port > 0
                checked += 1
            elif block.startswith("[researcher]"):
                assert read_member_config(path, ("researcher",)).org
                checked += 1
    assert checked >= 3


def test_the_operations_guides_commands_are_real_and_its_tables_read_as_shown(
    tmp_path: Path,
) -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    commands = accord_lines(text)
    shown = {" ".join(c[:2]) for c in commands}
    assert {"hub prune", "site prune", "hub init-store"} <= shown
    for argv in commands:
        check_command(argv)
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    (tmp_path / "hub.toml").write_text(blocks[0])
    hub = read_hub_config(tmp_path / "hub.toml")
    assert hub.store.postgres and "accord" in hub.store.describe()
    assert hub.retention == RetentionPolicy(
        blobs=AreaLimit(30.0, 200_000_000_000), checkpoints=AreaLimit(180.0, None)
    )
    (tmp_path / "site.toml").write_text(blocks[1])
    assert read_service_config(tmp_path / "site.toml").retention.spool == AreaLimit(
        14.0, 20_000_000_000
    )
    for unit in ("accord-hub.service", "accord-site@.service", "healthcheck.py"):
        assert unit in text


# what the guide shows but the example script does not run (it reads, or rejects nothing)
_GUIDE_ONLY = {"ca show", "site reject", "run", "consortium simulate"}


def _command_path(argv: list[str]) -> str:
    words = []
    for word in argv:
        if (
            word.startswith("-")
            or "/" in word
            or "." in word
            or not word.isalpha()
            or word.isupper()
        ):
            break
        words.append(word)
    return " ".join(words)


def test_the_deployment_guides_commands_are_real_and_the_example_runs_them() -> None:
    """Every ``accord`` command of docs/deployment.md is a real command with real options,
    and deploy/example/consortium.sh (which tests/services/test_consortium_example.py runs)
    runs each step the guide shows."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    script = (ROOT / "deploy" / "example" / "consortium.sh").read_text()
    commands = accord_lines(text)
    assert len(commands) >= 15
    for argv in commands:
        check_command(argv)
    paths = {_command_path(argv) for argv in commands} - _GUIDE_ONLY
    missing = sorted(p for p in paths if f'"$ACCORD" {p}' not in script)
    assert not missing, f"the example script never runs: {missing}"
