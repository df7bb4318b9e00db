"""Study specs: the built-in studies and how a study reference resolves."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from accord.core import ConfigError, StudySpec, did_you_mean, load_study

__all__ = ["BUILTIN_STUDIES", "builtin_study", "resolve_study"]

BUILTIN_STUDIES = ("lung-demo", "tcga-brca", "hcc-resection-survival")


def builtin_study(name: str) -> StudySpec:
    """A study shipped with accord, by name (see ``BUILTIN_STUDIES``)."""
    if name not in BUILTIN_STUDIES:
        raise ConfigError(f"no built-in study '{name}'{did_you_mean(name, BUILTIN_STUDIES)}")
    ref = resources.files("accord.studies") / "builtin" / f"{name}.toml"
    with resources.as_file(ref) as path:
        return load_study(Path(path))


def resolve_study(value: str) -> StudySpec:
    """A path to a study TOML file, or the name of a built-in study."""
    path = Path(value)
    if path.suffix == ".toml" or path.exists():
        return load_study(path)
    return builtin_study(value)
