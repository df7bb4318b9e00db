"""Reading the hub's and a site's service configs (``hub.toml``, ``site.toml``).

Shared pieces: the TOML file itself, its tables, paths relative to the config's folder,
the ``[tls]`` table and the study reference. Every error names the file and the field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from accord.core import ConfigError

__all__ = ["TLSPaths", "read_toml", "relative", "seed_of", "study_ref", "table", "tls_paths"]

TLSPaths = tuple[Path, Path, Path]  # certificate, private key, consortium CA


def read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def table(data: dict[str, Any], name: str, path: Path, default: Any = None) -> dict[str, Any]:
    value = data.get(name, default)
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: field '{name}': expected a table")
    return value


def relative(folder: Path, value: object) -> Path:
    """``value`` as a path; relative ones are relative to ``folder`` (the config's)."""
    path = Path(str(value))
    return path if path.is_absolute() else (folder / path).resolve()


def seed_of(section: dict[str, Any], name: str, path: Path) -> int:
    seed = section.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"{path}: field '{name}.seed': expected a whole number")
    return seed


def tls_paths(data: dict[str, Any], folder: Path, path: Path) -> TLSPaths | None:
    """The ``[tls]`` files, or None for ``insecure = true`` (plain HTTP on loopback only)."""
    tls = table(data, "tls", path, {})
    if tls.get("insecure", False):
        return None
    for key in ("cert", "key", "ca"):
        if not isinstance(tls.get(key), str):
            raise ConfigError(f"{path}: field 'tls.{key}': expected a file path")
    return (
        relative(folder, tls["cert"]),
        relative(folder, tls["key"]),
        relative(folder, tls["ca"]),
    )


def study_ref(value: object, folder: Path) -> str:
    """A built-in study name as is; a ``.toml``/``.json`` file relative to ``folder``."""
    study = str(value)
    return str(relative(folder, study)) if study.endswith((".toml", ".json")) else study
