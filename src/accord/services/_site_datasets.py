"""A site's own datasets: registered on the ledger by the site, kept in its folder.

``accord site dataset add NAME --path DIR --config site.toml --permit ORG`` reads the
site's table, signs a ``dataset.registered`` entry with the site's own key (schema,
counts rounded or suppressed below the small-cell threshold, the table's SHA-256; see
:mod:`accord.data._dataset_summary`) and writes ``SITE/datasets/NAME.json``::

    {"name": "hcc", "id": "site-a.hcc", "path": "/data/hcc", "table": "clinical.csv",
     "content_hash": "…", "seq": 7}

so that the site process knows where the rows of each dataset a plan names are. Nothing
about the rows but the summary leaves the site; the path never does.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from accord.core import (
    ConfigError,
    MissingFileError,
    canonical_json,
    load_json_file,
    sha256_hex,
)
from accord.core import write_bytes_atomic as write_atomic
from accord.data import summarise_dataset
from accord.fl.governance import DATASET_REGISTERED, MODALITIES
from accord.services._member import member_session, read_member_config

__all__ = ["LocalDataset", "add_dataset", "dataset_path", "local_datasets"]

DATASETS_DIR = "datasets"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class LocalDataset:
    name: str
    id: str
    path: str
    table: str
    content_hash: str
    seq: int


def local_datasets(folder: Path) -> dict[str, LocalDataset]:
    """The datasets this site registered (dataset id -> where its rows are)."""
    out: dict[str, LocalDataset] = {}
    for file in sorted((folder / DATASETS_DIR).glob("*.json")):
        data = load_json_file(file, ConfigError, "a site dataset file")
        try:
            dataset = LocalDataset(**{k: data[k] for k in LocalDataset.__dataclass_fields__})
        except (KeyError, TypeError):
            raise ConfigError(f"{file}: not a site dataset file (name, id, path, ...)") from None
        out[dataset.id] = dataset
    return out


def dataset_path(folder: Path, dataset_id: str) -> Path:
    """Where the rows of this site's dataset ``dataset_id`` are; ConfigError if unknown."""
    found = local_datasets(folder).get(dataset_id)
    if found is None:
        raise ConfigError(f"dataset {dataset_id}: not registered by this site (site dataset add)")
    return Path(found.path)


def add_dataset(
    config_path: Path,
    name: str,
    path: Path,
    permit: list[str],
    *,
    description: str = "",
    modality: str = "clinical",
    table: str = "clinical.csv",
    event_column: str = "event",
    id_column: str | None = None,
    min_cell_count: int = 5,
) -> tuple[LocalDataset, dict[str, Any]]:
    """Register ``path``'s table as this site's dataset ``name``; (its record, the payload
    signed on the ledger)."""
    if not _NAME.match(name):
        raise ConfigError(f"NAME {name!r}: expected lower-case letters, digits, '-' or '_'")
    if modality not in MODALITIES:
        raise ConfigError(f"--modality {modality}: expected one of {', '.join(MODALITIES)}")
    if not permit:
        raise ConfigError("--permit: name at least one organisation that may process it")
    config = read_member_config(config_path, ("site",))
    if not path.exists():
        raise MissingFileError(f"--path {path.absolute()}: no such file or folder")
    summary = summarise_dataset(
        path,
        table=table,
        event_column=event_column,
        id_column=id_column,
        min_cell_count=min_cell_count,
    )
    dataset_id = f"{config.org}.{name}"
    payload: dict[str, Any] = {
        "dataset": dataset_id,
        "site": config.org,
        "description": description or name,
        "modality": modality,
        "schema_hash": sha256_hex(canonical_json(summary.columns)),
        "columns": summary.columns,
        "n_patients": summary.n_patients,
        "content_hash": summary.content_hash,
        "permissions": sorted(set(permit)),
    }
    if summary.n_events is not None:
        payload["n_events"] = summary.n_events
    with member_session(config) as session:
        session.view()  # verify the hub's log before signing into it
        seq = session.record(DATASET_REGISTERED, payload)
    record = LocalDataset(
        name=name,
        id=dataset_id,
        path=str(path.resolve()),
        table=summary.table.name,
        content_hash=summary.content_hash,
        seq=seq,
    )
    text = json.dumps(asdict(record), indent=2) + "\n"
    write_atomic(config.folder / DATASETS_DIR / f"{name}.json", text.encode("utf-8"))
    return record, payload
