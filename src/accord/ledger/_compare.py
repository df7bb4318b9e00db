"""Comparing two copies of one log: what an auditor holding the hub's bundle and a site's
replica can prove that neither proves alone.

Each copy may verify on its own while the hub showed them different histories. Across
the two, every hub-signed checkpoint of one copy is compared with the other's:

- the same size with another root is a ``fork``;
- the nearest checkpoint above it in the other copy (whose root that copy's entries
  reproduce) must be consistent with it; the RFC 6962 consistency proof is cut from the
  other copy's own tree, so a failure is ``inconsistent`` evidence with that proof.

Both copies are loaded into scratch SQLite stores (a bundle has no Merkle nodes), so the
cost is one pass over each log plus O(log n) per checkpoint. The result is a list of
:class:`~accord.ledger._evidence.EquivocationEvidence`, empty for an honest hub.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path

from accord.ledger._evidence import EquivocationEvidence
from accord.ledger._merkle import verify_consistency
from accord.ledger._signing import verify_signature
from accord.ledger._store import SQLiteLedgerStore, StoredCheckpoint, StoredEntry

__all__ = ["compare_logs"]

_BATCH = 1000


def compare_logs(
    first: tuple[Iterable[StoredEntry], Sequence[StoredCheckpoint]],
    second: tuple[Iterable[StoredEntry], Sequence[StoredCheckpoint]],
    hub_public_key: bytes,
    finder: str,
) -> list[EquivocationEvidence]:
    """Evidence that the hub signed checkpoints of two histories, one per conflict.

    ``first`` and ``second`` are each a log's (entries, checkpoints), as verified on their
    own; only checkpoints signed by ``hub_public_key`` count. ``finder`` names who
    compared (written into the evidence as its ``site``).
    """
    with tempfile.TemporaryDirectory(prefix="accord-compare-") as scratch:
        trees = [_load(first[0], Path(scratch) / "a.sqlite")]
        trees.append(_load(second[0], Path(scratch) / "b.sqlite"))
        try:
            signed = [
                [cp for cp in cps if verify_signature(hub_public_key, cp.signature, cp.body)]
                for _, cps in (first, second)
            ]
            found = _forks(signed[0], signed[1], finder)
            found += _inconsistent(signed[0], signed[1], trees[1], finder)
            found += _inconsistent(signed[1], signed[0], trees[0], finder)
        finally:
            for tree in trees:
                tree.close()
    return found


def _load(entries: Iterable[StoredEntry], path: Path) -> SQLiteLedgerStore:
    store = SQLiteLedgerStore(path)
    stream = iter(entries)
    while batch := list(islice(stream, _BATCH)):
        store.append(batch)
    return store


def _forks(
    ours: Sequence[StoredCheckpoint], theirs: Sequence[StoredCheckpoint], finder: str
) -> list[EquivocationEvidence]:
    by_size = {cp.size: cp for cp in ours}
    found: dict[int, EquivocationEvidence] = {}
    for cp in theirs:
        old = by_size.get(cp.size)
        if old is not None and old.root != cp.root and cp.size not in found:
            found[cp.size] = EquivocationEvidence("fork", finder, (old, cp))
    return list(found.values())


def _inconsistent(
    older: Sequence[StoredCheckpoint],
    newer: Sequence[StoredCheckpoint],
    tree: SQLiteLedgerStore,
    finder: str,
) -> list[EquivocationEvidence]:
    """Each of ``older`` against the nearest of ``newer`` above it that ``tree`` (the
    newer copy's entries) reproduces, with a proof from ``tree``."""
    size = tree.size()
    backed = sorted(
        (cp for cp in newer if cp.size <= size and tree.root(cp.size) == cp.root),
        key=lambda c: c.size,
    )
    found = []
    for old in (cp for cp in older if cp.size > 0):
        new = next((cp for cp in backed if cp.size > old.size), None)
        if new is None:
            continue
        proof = tree.consistency_proof(old.size, new.size)
        if not verify_consistency(old.size, new.size, old.root, new.root, proof):
            found.append(EquivocationEvidence("inconsistent", finder, (old, new), tuple(proof)))
    return found
