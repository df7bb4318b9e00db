"""A misspelt key in a study file is refused with the nearest known key."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.core import ConfigError, did_you_mean, load_study
from tests.conftest import write_study


def test_a_typo_in_a_study_section_suggests_the_known_key(tmp_path: Path) -> None:
    path = write_study(tmp_path, strategy="fedavg", rounds=1, baselines="[]")
    text = path.read_text().replace("[training]\n", "[training]\nlocal_step = 3\n", 1)
    assert text != path.read_text()
    path.write_text(text)
    with pytest.raises(
        ConfigError,
        match=r"field 'training.local_step': unknown key \(did you mean 'local_steps'\?\)",
    ):
        load_study(path)


def test_an_unknown_top_level_section_lists_or_suggests(tmp_path: Path) -> None:
    path = write_study(tmp_path, strategy="fedavg", rounds=1, baselines="[]")
    path.write_text(path.read_text() + "\n[trainig]\nrounds = 2\n")
    with pytest.raises(
        ConfigError, match=r"field 'trainig': unknown key \(did you mean 'training'\?\)"
    ):
        load_study(path)


def test_far_from_every_known_key_lists_them_all() -> None:
    assert did_you_mean("zzz", ["b", "a"]) == " (expected one of a, b)"
    assert did_you_mean("timout", ["timeout", "seed"]) == " (did you mean 'timeout'?)"
    assert did_you_mean("x", []) == ""
