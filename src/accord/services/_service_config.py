"""Reading the hub's and a site's service configs (``hub.toml``, ``site.toml``).

Shared pieces: the TOML file itself, its tables, paths relative to the config's folder,
the ``[tls]`` table and the study reference. Every error names the file and the field.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from accord.core import ConfigError, MissingFileError, check_keys, load_toml

__all__ = [
    "TLSPaths",
    "hub_url",
    "is_loopback",
    "listen_address",
    "read_toml",
    "relative",
    "seed_of",
    "study_ref",
    "table",
    "tls_paths",
]

TLSPaths = tuple[Path, Path, Path]  # certificate, private key, consortium CA


def read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return load_toml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingFileError(f"{path.absolute()}: no such {what}") from None
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
    check_keys(tls, ("cert", "key", "ca", "insecure"), path, "tls")
    if not isinstance(tls.get("insecure", False), bool):
        raise ConfigError(f"{path}: field 'tls.insecure': expected true or false")
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


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hub_url(value: str, tls: TLSPaths | None, path: Path, field: str) -> str:
    """The hub's URL, checked against the ``[tls]`` table: ``https://`` with TLS files;
    ``http://`` only with ``insecure = true`` and only to a loopback host."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 — raises ValueError for a port outside 0..65535
    except ValueError:
        raise ConfigError(f"{path}: field '{field}': not a URL with a valid port") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{path}: field '{field}': expected https://HOST:PORT")
    if tls is not None and parts.scheme != "https":
        raise ConfigError(
            f"{path}: field '{field}': the [tls] section needs an https:// hub URL "
            "(plain http would send every request in clear)"
        )
    if tls is None and (parts.scheme != "http" or not is_loopback(parts.hostname)):
        raise ConfigError(
            f"{path}: field '{field}': tls.insecure = true is for http:// on a loopback host only"
        )
    return value


def listen_address(value: object, tls: TLSPaths | None, path: Path, field: str) -> tuple[str, int]:
    """``HOST:PORT`` with a port in 1..65535; a plain-HTTP hub listens on loopback only."""
    host, _, port = str(value).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"{path}: field '{field}': expected HOST:PORT with a port in 1..65535, "
            "e.g. 0.0.0.0:8443"
        )
    host = host.strip("[]")
    if tls is None and not is_loopback(host):
        raise ConfigError(
            f"{path}: field '{field}': tls.insecure = true listens on a loopback host only"
        )
    return host, int(port)
