"""The hub's ledger over HTTPS: sites append the entries they sign, and replicate the log.

A site signs its own entries with its own key; the hub only sequences them. Each entry
names its position (``seq``) and the previous leaf hash (``prev``) inside the author's
signature, so a site first reads the head, signs for that slot and posts; when another
author took the slot first the hub answers 409 with the new head and the site re-signs.
Posting an entry that is already in the log at its seq (a retry after a lost answer)
returns its receipt again, so retries never append twice.

Every endpoint is authenticated as the rest of the hub's API (the ``authenticate`` given
to :func:`accord.net._app.create_app`). Bytes travel as base64, hashes as hex
(:mod:`accord.ledger._wire`); errors answer ``{"error": text}``.

============================================  ==============================================
``GET  /v1/ledger/head``                      ``{log_id, size, prev}``: the next entry's slot
``POST /v1/ledger/entries``                   ``{entry, signature}`` → the hub's signed receipt
                                              ``{seq, body, signature}``; 403 for an entry
                                              authored by another organisation than the
                                              caller, 409 ``{error, head}`` for a taken slot,
                                              400 naming the problem (bad signature, unknown
                                              or revoked key, malformed entry)
``GET  /v1/ledger/entries?start&stop``        ``{entries: [...]}``, at most 1000 per page
``GET  /v1/ledger/checkpoint``                the latest checkpoint (404 while there is none)
``GET  /v1/ledger/checkpoints``               ``{checkpoints: [...]}``
``GET  /v1/ledger/consistency?old&new``       ``{old, new, proof: [hex, ...]}``
``POST /v1/ledger/cosignatures``              the caller's co-signature of a checkpoint
``GET  /v1/ledger/cosignatures?size``         ``{cosignatures: [...]}``
============================================  ==============================================

The hub's round loop appends too, from another thread, and both ledger stores are meant
for one thread. :class:`LockedHubLedger` therefore opens the ledger on a thread of its own
and runs every call there, one at a time; the hub hands the same object to its
:class:`~accord.fl._recording.LedgerRecorder` and to :func:`ledger_router`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Annotated, Any, Self, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import JSONResponse

from accord.core import MAX_JSON_INT, LedgerError, TransportError, load_json
from accord.ledger import (
    Entry,
    HubLedger,
    LedgerStore,
    Receipt,
    SignedEntry,
    SignedReceipt,
    Signer,
    StoredCheckpoint,
    StoredCosignature,
    StoredEntry,
    checkpoint_to_json,
    cosignature_from_json,
    cosignature_to_json,
    entry_to_json,
    receipt_to_json,
)
from accord.net._app import _Caller, _field, _read_body

__all__ = ["MAX_ENTRY_BYTES", "PAGE_LIMIT", "LockedHubLedger", "ledger_router"]

log = logging.getLogger(__name__)

PAGE_LIMIT = 1000  # entries per GET /v1/ledger/entries
MAX_ENTRY_BYTES = 1024 * 1024  # a posted entry or co-signature (ids, hashes and counts only)

T = TypeVar("T")


class LockedHubLedger:
    """A :class:`HubLedger` shared by threads: opened on, and only used from, one thread.

    ``open_ledger`` runs on that thread (e.g. ``lambda: HubLedger(open_store(path), hub)``
    or ``HubLedger.create(...)``). Every method hands its work to the thread and waits,
    so appends from the round loop and from sites are serialised, and the store (SQLite
    or PostgreSQL, each meant for one thread) only ever sees its own thread. It offers
    what the hub uses of a HubLedger; :meth:`call` runs anything else (e.g. reading
    ``verifier.registry``) on the ledger's thread.
    """

    def __init__(
        self, open_ledger: Callable[[], HubLedger], *, thread_name: str = "accord-ledger"
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        try:
            self._thread = self._pool.submit(threading.get_ident).result()
            self._ledger = self._pool.submit(open_ledger).result()
        except BaseException:
            self._pool.shutdown(wait=False)
            raise
        self._closed = False
        self.log_id = self._ledger.log_id
        self.hub: Signer = self._ledger.hub
        self.store: LedgerStore = _ThreadStore(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def schedule(self, work: Callable[[HubLedger], T]) -> Future[T]:
        """Queue ``work(ledger)`` on the ledger's thread (not to be awaited from that thread)."""
        return self._pool.submit(work, self._ledger)

    def call(self, work: Callable[[HubLedger], T]) -> T:
        """Run ``work(ledger)`` on the ledger's thread and return what it returns."""
        if threading.get_ident() == self._thread:
            return work(self._ledger)  # already there (``work`` called back into us)
        return self.schedule(work).result()

    def close(self) -> None:
        """Close the store and stop the ledger's thread."""
        if self._closed:
            return
        self._closed = True
        try:
            self.call(lambda ledger: ledger.store.close())
        finally:
            self._pool.shutdown(wait=True)

    # --- what the hub uses of a HubLedger ----------------------------------------------------

    def slot(self) -> tuple[int, str]:
        return self.call(lambda ledger: ledger.slot())

    def draft(self, author: Signer, kind: str, payload: Mapping[str, Any]) -> Entry:
        return self.call(lambda ledger: ledger.draft(author, kind, payload))

    def record(self, author: Signer, kind: str, payload: Mapping[str, Any]) -> SignedReceipt:
        return self.call(lambda ledger: ledger.record(author, kind, payload))

    def record_batch(
        self, author: Signer, items: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[SignedReceipt]:
        return self.call(lambda ledger: ledger.record_batch(author, items))

    def submit(self, signed: SignedEntry) -> SignedReceipt:
        return self.call(lambda ledger: ledger.submit(signed))

    def submit_batch(self, batch: Sequence[SignedEntry]) -> list[SignedReceipt]:
        return self.call(lambda ledger: ledger.submit_batch(batch))

    def checkpoint(self) -> StoredCheckpoint:
        return self.call(lambda ledger: ledger.checkpoint())

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self.call(lambda ledger: ledger.latest_checkpoint())

    def add_cosignature(self, cs: StoredCosignature) -> None:
        self.call(lambda ledger: ledger.add_cosignature(cs))


class _ThreadStore:
    """The ledger's store, each call run on the ledger's thread (a :class:`LedgerStore`).

    ``read`` and ``find`` fetch a page at a time; ``close`` closes the whole ledger.
    Appending here bypasses the ledger's checks, as it would on a HubLedger's store.
    """

    def __init__(self, owner: LockedHubLedger) -> None:
        self._owner = owner

    def append(self, entries: Sequence[StoredEntry]) -> list[Receipt]:
        return self._owner.call(lambda ledger: ledger.store.append(entries))

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        while stop is None or start < stop:
            end = start + PAGE_LIMIT if stop is None else min(stop, start + PAGE_LIMIT)
            page = self._owner.call(partial(_read_page, start=start, stop=end))
            yield from page
            if len(page) < end - start:
                return
            start = end

    def find(
        self, kind: str | None = None, org: str | None = None, plan: str | None = None
    ) -> Iterator[StoredEntry]:
        return iter(self._owner.call(lambda ledger: list(ledger.store.find(kind, org, plan))))

    def size(self) -> int:
        return self._owner.call(lambda ledger: ledger.store.size())

    def head(self) -> bytes:
        return self._owner.call(lambda ledger: ledger.store.head())

    def root(self, size: int | None = None) -> bytes:
        return self._owner.call(lambda ledger: ledger.store.root(size))

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        return self._owner.call(lambda ledger: ledger.store.inclusion_proof(seq, size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return self._owner.call(lambda ledger: ledger.store.consistency_proof(old_size, new_size))

    def put_checkpoint(self, cp: StoredCheckpoint) -> None:
        self._owner.call(lambda ledger: ledger.store.put_checkpoint(cp))

    def checkpoints(self) -> list[StoredCheckpoint]:
        return self._owner.call(lambda ledger: ledger.store.checkpoints())

    def put_cosignature(self, cs: StoredCosignature) -> None:
        self._owner.call(lambda ledger: ledger.store.put_cosignature(cs))

    def cosignatures(self, size: int | None = None) -> list[StoredCosignature]:
        return self._owner.call(lambda ledger: ledger.store.cosignatures(size))

    def close(self) -> None:
        self._owner.close()


def _read_page(ledger: HubLedger, start: int, stop: int) -> list[StoredEntry]:
    return list(ledger.store.read(start, stop))


# --- the router ------------------------------------------------------------------------------


class _PostedEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entry: str  # base64 of the canonical entry bytes
    signature: str  # base64 of the author's Ed25519 signature


@dataclass(frozen=True)
class _Taken:
    """The slot the entry was signed for is taken: the head it must be re-signed for."""

    head: dict[str, Any]


def ledger_router(ledger: LockedHubLedger, *, max_entry_bytes: int = MAX_ENTRY_BYTES) -> APIRouter:
    """The ``/v1/ledger`` endpoints over ``ledger``; pass to ``create_app(routers=...)``."""
    router = APIRouter(prefix="/v1/ledger")

    async def run(work: Callable[[HubLedger], T]) -> T:
        """``work`` on the ledger's thread; a LedgerError it raises is the caller's 400,
        told without the store's path or database name (the hub's log keeps them)."""
        try:
            return await asyncio.wrap_future(ledger.schedule(partial(_unnamed, work)))
        except LedgerError as exc:
            raise TransportError(str(exc)) from None

    @router.get("/head")
    async def head(org: _Caller) -> JSONResponse:
        return JSONResponse(await run(_head))

    @router.post("/entries")
    async def post_entry(request: Request, org: _Caller) -> JSONResponse:
        signed = _signed_entry(bytes(await _read_body(request, max_entry_bytes)))
        if signed.entry.org != org:
            raise PermissionError(
                f"organisation '{org}' may not append an entry authored by '{signed.entry.org}'"
            )
        outcome = await run(partial(_append, signed=signed))
        if isinstance(outcome, _Taken):
            slot = signed.entry.seq
            text = f"slot {slot} is taken: sign the entry for seq {outcome.head['size']}"
            return JSONResponse({"error": text, "head": outcome.head}, status_code=409)
        log.info("ledger entry %d (%s) appended for %s", outcome.seq, signed.entry.kind, org)
        return JSONResponse(receipt_to_json(outcome))

    @router.get("/entries")
    async def get_entries(
        org: _Caller,
        start: Annotated[int, Query(ge=0, le=MAX_JSON_INT)] = 0,
        stop: Annotated[int | None, Query(ge=0, le=MAX_JSON_INT)] = None,
    ) -> JSONResponse:
        end = min(start + PAGE_LIMIT, MAX_JSON_INT if stop is None else stop)
        page = await run(partial(_read_page, start=start, stop=end))
        return JSONResponse({"entries": [entry_to_json(e) for e in page]})

    @router.get("/checkpoint")
    async def get_checkpoint(org: _Caller) -> JSONResponse:
        latest = await run(lambda hub: hub.latest_checkpoint())
        if latest is None:
            return JSONResponse({"error": "the hub has signed no checkpoint yet"}, 404)
        return JSONResponse(checkpoint_to_json(latest))

    @router.get("/checkpoints")
    async def get_checkpoints(org: _Caller) -> JSONResponse:
        cps = await run(lambda hub: hub.store.checkpoints())
        return JSONResponse({"checkpoints": [checkpoint_to_json(cp) for cp in cps]})

    @router.get("/consistency")
    async def get_consistency(
        org: _Caller,
        old: Annotated[int, Query(ge=0, le=MAX_JSON_INT)],
        new: Annotated[int, Query(ge=0, le=MAX_JSON_INT)],
    ) -> JSONResponse:
        proof = await run(partial(_consistency, old=old, new=new))
        return JSONResponse({"old": old, "new": new, "proof": [p.hex() for p in proof]})

    @router.post("/cosignatures")
    async def post_cosignature(request: Request, org: _Caller) -> JSONResponse:
        cs = _cosignature(bytes(await _read_body(request, max_entry_bytes)))
        if cs.org != org:
            raise PermissionError(f"organisation '{org}' may not co-sign as '{cs.org}'")
        if not await run(partial(_add_cosignature, cs=cs)):
            text = f"no checkpoint for size {cs.size} with that root"
            return JSONResponse({"error": text}, status_code=404)
        log.info("co-signature by %s of the checkpoint for size %d", org, cs.size)
        return JSONResponse({"status": "stored"})

    @router.get("/cosignatures")
    async def get_cosignatures(
        org: _Caller, size: Annotated[int | None, Query(ge=0, le=MAX_JSON_INT)] = None
    ) -> JSONResponse:
        found = await run(lambda hub: hub.store.cosignatures(size))
        return JSONResponse({"cosignatures": [cosignature_to_json(cs) for cs in found]})

    return router


def _head(ledger: HubLedger) -> dict[str, Any]:
    size, prev = ledger.slot()
    return {"log_id": ledger.log_id, "size": size, "prev": prev}


def _signed_entry(body: bytes) -> SignedEntry:
    """The posted entry, parsed (canonical encoding checked) but not yet verified."""
    try:
        posted = _PostedEntry.model_validate_json(body)
    except ValidationError as exc:
        raise TransportError(f"malformed ledger entry: field '{_field(exc)}'") from None
    raw = _base64(posted.entry, "entry")
    try:
        entry = Entry.parse(raw)
    except LedgerError as exc:
        raise TransportError(f"malformed ledger entry: {exc}") from None
    return SignedEntry(entry, raw, _base64(posted.signature, "signature"))


def _base64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TransportError(f"malformed ledger entry: field '{name}' is not base64") from None


def _append(ledger: HubLedger, signed: SignedEntry) -> SignedReceipt | _Taken:
    """Verify and append ``signed`` at the head; or its receipt again if it is already in."""
    entry = signed.entry
    if entry.log_id != ledger.log_id:
        raise LedgerError("the entry belongs to another log (field 'log_id')")
    size, prev = ledger.slot()
    if entry.seq < size:
        (stored,) = list(ledger.store.read(entry.seq, entry.seq + 1))
        if stored.leaf == signed.leaf:  # a retry of an entry the hub already appended
            root = ledger.store.root(entry.seq + 1)
            return ledger._receipt(entry.seq, stored.leaf, entry.seq + 1, root)
    if (entry.seq, entry.prev) != (size, prev):
        return _Taken({"log_id": ledger.log_id, "size": size, "prev": prev})
    try:
        return ledger.submit(signed)
    except LedgerError as exc:
        raise LedgerError(f"entry refused: {exc}") from None


def _unnamed(work: Callable[[HubLedger], T], hub: HubLedger) -> T:
    """``work(hub)``, its LedgerError retold with the store's name replaced: where the
    hub keeps its ledger is not the caller's business."""
    try:
        return work(hub)
    except LedgerError as exc:
        where = str(getattr(hub.store, "where", "") or "")
        text = str(exc)
        if where and where in text:
            log.warning("ledger request refused: %s", text)
            text = text.replace(where, "the hub's ledger")
        raise LedgerError(text) from None


def _consistency(ledger: HubLedger, old: int, new: int) -> list[bytes]:
    """The proof from size ``old`` to ``new``, refused in the caller's terms (the store's
    own message names the hub's database file, which is no business of a site's)."""
    size = ledger.store.size()
    if not old <= new <= size:
        raise LedgerError(
            f"no consistency proof from size {old} to {new}: need old <= new <= {size}"
        )
    return ledger.store.consistency_proof(old, new)


def _cosignature(body: bytes) -> StoredCosignature:
    try:
        return cosignature_from_json(load_json(body))
    except ValueError as exc:
        raise TransportError(f"malformed co-signature: {exc}") from None
    except LedgerError as exc:
        raise TransportError(str(exc)) from None


def _add_cosignature(ledger: HubLedger, cs: StoredCosignature) -> bool:
    """Check and store ``cs``; False when the hub signed no such checkpoint."""
    if not any(cp.size == cs.size and cp.root == cs.root for cp in ledger.store.checkpoints()):
        return False
    ledger.add_cosignature(cs)
    return True
