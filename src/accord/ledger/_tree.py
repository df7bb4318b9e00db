"""The RFC 6962 tree over a ledger store's entries, shared by every store backend.

:class:`TreeStore` is the base class of :class:`~accord.ledger._store.SQLiteLedgerStore`
and :class:`~accord.ledger._pg_store.PostgresLedgerStore`; ``merkle.py`` stays the pure
maths. It keeps the frontier of the log (a :class:`~accord.ledger._merkle.CompactRange`,
rebuilt from O(log n) stored nodes whenever another writer has grown the log), answers
size, head, roots and proofs from stored perfect subtrees, works out what an append
writes (entry rows with their leaves, completed inner nodes, receipts) and refuses a
checkpoint whose root conflicts with the log or with another checkpoint. The parts of
``append`` and ``find`` that do not depend on the database are here too.

A backend passes where it is (the prefix of every error message) to ``__init__`` and
implements the database side: ``close``, ``_write`` (one append transaction),
``_find``, ``_last_seq``, ``_read_node`` and ``_checkpoint_roots``. Errors name the
store and the seq or size, never an entry's contents.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from accord.core import EquivocationError, LedgerError
from accord.ledger import _merkle as merkle
from accord.ledger._stored import Receipt, StoredEntry

__all__ = ["ZERO_HASH", "Growth", "TreeStore"]

ZERO_HASH = bytes(merkle.HASH_SIZE)

EntryRow = tuple[int, bytes, bytes, bytes, str, str, str | None]
"""``(seq, leaf, entry, signature, org, kind, plan)``: the columns of table ``entries``."""
NodeRow = tuple[int, int, bytes]
"""``(level, idx, hash)`` with level >= 1: the columns of table ``nodes``."""


@dataclass(frozen=True, slots=True)
class Growth:
    """An append worked out before it is written: its rows and the tree once they are in."""

    compact: merkle.CompactRange  # the frontier after the append
    receipts: list[Receipt]
    entries: list[EntryRow]
    nodes: list[NodeRow]  # inner nodes only: leaves are stored with their entries


class TreeStore(ABC):
    """Base class of a ledger store: its tree, append and find over the backend's hooks.

    Also a context manager that calls :meth:`close`. One instance is used from one thread.
    """

    def __init__(self, where: str) -> None:
        self._where = where
        self._compact = merkle.CompactRange()

    @property
    def where(self) -> str:
        """How this store's errors name it (a file path, or a database and schema)."""
        return self._where

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    def _open(self, check_schema: Callable[[], None]) -> None:
        """Check the schema, then read the frontier of the log; close the store if either fails."""
        try:
            check_schema()
            self._sync()
        except BaseException:
            self.close()
            raise

    # --- what a backend does -----------------------------------------------------------------

    @abstractmethod
    def _write(self, entries: Sequence[StoredEntry]) -> Growth:
        """Write a non-empty batch in one transaction; what :meth:`_grow` worked out for it.

        The transaction takes the log's write lock, then calls :meth:`_grow` and inserts its
        rows; a database error is raised as :class:`LedgerError` naming the store.
        """

    @abstractmethod
    def _find(self, filters: dict[str, str]) -> Iterator[StoredEntry]:
        """Stream the entries whose columns equal ``filters`` (column: value), in log order."""

    @abstractmethod
    def _last_seq(self) -> int | None:
        """The highest seq committed (another writer may have appended); None if empty."""

    def stored_node(self, level: int, index: int) -> bytes | None:
        """The stored leaf (level 0) or inner node, as is (for verify to recompute)."""
        return self._read_node(level, index)

    @abstractmethod
    def _read_node(self, level: int, index: int) -> bytes | None:
        """Stored hash of the perfect subtree (level, index), None if absent.

        Level 0 is the leaf hash stored with entry ``index``; higher levels are inner nodes.
        """

    @abstractmethod
    def _checkpoint_roots(self, size: int) -> set[bytes]:
        """The roots of the checkpoints stored for ``size``."""

    # --- the tree ----------------------------------------------------------------------------

    def size(self) -> int:
        return self._sync().size

    def head(self) -> bytes:
        """Leaf hash of the last entry, or 32 zero bytes for an empty log."""
        size = self._sync().size
        return self._node(0, size - 1) if size else ZERO_HASH

    def root(self, size: int | None = None) -> bytes:
        if size is None:
            return self._sync().root()
        return merkle.root_of(self._check_size(size, "size"), self._node)

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        tree_size = self._check_size(self.size() if size is None else size, "size")
        if not 0 <= seq < tree_size:
            raise LedgerError(f"{self._where}: seq {seq} is not in a tree of size {tree_size}")
        return merkle.inclusion_proof(seq, tree_size, self._node)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new = self._check_size(self.size() if new_size is None else new_size, "new_size")
        old = self._check_size(old_size, "old_size")
        if old > new:
            raise LedgerError(f"{self._where}: old_size {old} is larger than new_size {new}")
        return merkle.consistency_proof(old, new, self._node)

    def _sync(self) -> merkle.CompactRange:
        """The frontier for the log as committed (another process may have appended)."""
        last = self._last_seq()
        size = 0 if last is None else last + 1
        if size != self._compact.size:
            self._compact = merkle.CompactRange.from_nodes(size, self._node)
        return self._compact

    def _node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree (level, index); a :data:`merkle.NodeGetter`."""
        node = self._read_node(level, index)
        if node is None:
            raise LedgerError(f"{self._where}: tree node (level {level}, index {index}) is missing")
        return node

    def _check_size(self, size: int, name: str) -> int:
        current = self.size()
        if not (isinstance(size, int) and 0 <= size <= current):
            raise LedgerError(f"{self._where}: {name} {size!r} is outside the log (0..{current})")
        return size

    # --- appends and checkpoints -------------------------------------------------------------

    def append(self, entries: Sequence[StoredEntry]) -> list[Receipt]:
        """Append ``entries`` (seqs ``size, size+1, ...``) in one durable transaction."""
        if not entries:
            return []
        growth = self._write(entries)
        self._compact = growth.compact
        return growth.receipts

    def find(
        self, kind: str | None = None, org: str | None = None, plan: str | None = None
    ) -> Iterator[StoredEntry]:
        """Stream the entries matching every filter given, in log order."""
        filters = {"kind": kind, "org": org, "plan": plan}
        return self._find({name: value for name, value in filters.items() if value is not None})

    def _grow(self, entries: Sequence[StoredEntry]) -> Growth:
        """Check seqs and fields against the log as committed; the rows and receipts to write.

        Called by :meth:`_write` inside the append's transaction, after its lock.
        """
        compact = self._sync().copy()
        receipts: list[Receipt] = []
        rows: list[EntryRow] = []
        nodes: list[NodeRow] = []
        for e in entries:
            _check_entry(self._where, e, compact.size)
            leaf = e.leaf
            nodes.extend(node for node in compact.append(leaf) if node[0] > 0)
            rows.append((e.seq, leaf, e.entry, e.signature, e.org, e.kind, e.plan))
            receipts.append(Receipt(e.seq, leaf, compact.size, compact.root()))
        return Growth(compact, receipts, rows, nodes)

    def _check_root(self, size: int, root: bytes) -> None:
        """Refuse a second root for a size (from a checkpoint or from our own log)."""
        roots = self._checkpoint_roots(size)
        if size <= self._sync().size:
            roots.add(merkle.root_of(size, self._node))
        if roots - {root}:
            raise EquivocationError(
                f"{self._where}: a checkpoint for size {size} has a root ({root.hex()[:16]}) "
                "that differs from the one this store already holds for that size"
            )


def _check_entry(where: str, e: StoredEntry, expected: int) -> None:
    """Seq continuity and column types (never echoing contents)."""
    if e.seq != expected:
        raise LedgerError(f"{where}: append expected seq {expected}, got seq {e.seq}")
    if not (isinstance(e.entry, bytes) and isinstance(e.signature, bytes)):
        raise LedgerError(f"{where}: entry {expected}: entry and signature must be bytes")
    if not (isinstance(e.org, str) and isinstance(e.kind, str)):
        raise LedgerError(f"{where}: entry {expected}: org and kind must be str")
    if e.plan is not None and not isinstance(e.plan, str):
        raise LedgerError(f"{where}: entry {expected}: plan must be str or None")
