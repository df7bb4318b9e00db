"""The ledger's seams: what the recorder, a run and a site's replica each need of a log.

:class:`LedgerWriter` signs and appends entries (a hub's :class:`~accord.ledger._log.HubLedger`,
its thread-safe wrapper ``accord.net.LockedHubLedger``, or a site's
``accord.net.RemoteLedger`` that sends its own signed entries to the hub).
:class:`LogSource` is what a site's replica pulls, verifies and co-signs from (the hub's
log, or ``accord.net.RemoteHub`` over HTTPS). :class:`HubLog` is the hub's whole log as a
run drives it: writing, reading, checkpointing and co-signatures. Code takes the protocol
it needs, so a deployment hands a run a different log instead of rewriting its attributes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from accord.core import Signer
from accord.ledger._log import SignedReceipt
from accord.ledger._store import LedgerStore, StoredCheckpoint, StoredCosignature, StoredEntry

__all__ = ["HubLog", "LedgerWriter", "LogReader", "LogSource"]


class LedgerWriter(Protocol):
    """Signs entries by ``author`` and appends them; returns the hub's receipts."""

    def record(self, author: Signer, kind: str, payload: Mapping[str, Any]) -> SignedReceipt: ...

    def record_batch(
        self, author: Signer, items: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[SignedReceipt]: ...


class LogReader(Protocol):
    """The read side of a log's store, as a replica pulls it."""

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]: ...

    def size(self) -> int: ...

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]: ...


class LogSource(Protocol):
    """A log a site's replica pulls entries from and co-signs checkpoints of."""

    @property
    def store(self) -> LogReader: ...

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def add_cosignature(self, cs: StoredCosignature) -> None: ...


class HubLog(LedgerWriter, Protocol):
    """The hub's log: entries, checkpoints and co-signatures, readable through ``store``."""

    @property
    def log_id(self) -> str: ...

    @property
    def store(self) -> LedgerStore: ...

    def checkpoint(self) -> StoredCheckpoint: ...

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def add_cosignature(self, cs: StoredCosignature) -> None: ...

    def close(self) -> None: ...
