from pathlib import Path

import pytest

from accord.core import ConfigError, MissingFileError
from accord.core._config import load_study, parse_study

MINIMAL = {
    "study": {"name": "s"},
    "cohort": {"files": ["c.csv"], "site_column": "site", "features": {"age": "numeric"}},
}


def test_minimal_study_gets_safe_defaults() -> None:
    spec = parse_study(MINIMAL, "s.toml")
    assert spec.training.strategy == "fedavg"
    assert spec.preprocessing.min_cell_count == 5
    assert spec.model.ties == "efron"


def test_config_hash_is_stable_and_sensitive() -> None:
    a = parse_study(MINIMAL, "s.toml")
    b = parse_study(MINIMAL, "s.toml")
    c = parse_study({**MINIMAL, "training": {"lr": 0.2}}, "s.toml")
    assert a.config_hash() == b.config_hash()
    assert a.config_hash() != c.config_hash()
    assert len(a.config_hash()) == 64


def test_unknown_field_names_file_and_field() -> None:
    with pytest.raises(ConfigError, match=r"s.toml: field 'training.learning_rate'"):
        parse_study({**MINIMAL, "training": {"learning_rate": 0.1}}, "s.toml")


def test_bad_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"field 'training.strategy'"):
        parse_study({**MINIMAL, "training": {"strategy": "fedmagic"}}, "s.toml")


def test_one_file_without_site_column_is_refused() -> None:
    cohort = {"files": ["c.csv"], "features": {"age": "numeric"}}
    with pytest.raises(ConfigError, match="site_column"):
        parse_study({"study": {"name": "s"}, "cohort": cohort}, "s.toml")


def test_load_study_reports_toml_syntax(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[study\nname=1")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_study(path)


def test_load_study_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=rf"^{tmp_path}/nope\.toml: no such study file"):
        load_study(tmp_path / "nope.toml")
    assert MissingFileError.exit_code == 14
