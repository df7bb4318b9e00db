"""The site's side of the ledger over HTTPS: sign its own entries, replicate the log.

:class:`RemoteLedger` is what a site process hands to its
:class:`~accord.fl._recording.LedgerRecorder`: :meth:`RemoteLedger.record` reads the log's
head, signs the entry for that slot with the site's own key and posts it; when another
author took the slot first (409) it re-signs for the head the hub sent back, a bounded
number of times. The hub's signed receipt is checked against the hub's key from the
genesis entry (or the registry the site passes in) before it is returned.

:class:`RemoteHub` stands in for the hub's :class:`~accord.ledger._log.HubLedger` where a
site's :class:`~accord.ledger._replica.SiteReplica` reads it (``pull``, ``sync``,
``check``): ``.store.size()``, ``.store.read(start, stop)``,
``.store.consistency_proof(old, new)``, ``.latest_checkpoint()``, ``.add_cosignature()``.
The replica verifies everything it pulls, so the hub is never trusted.

Connection errors, timeouts and 5xx answers are retried with capped exponential backoff
and jitter, ``attempts`` times; a 429 (the hub's rate limit) or 503 naming a
``Retry-After`` is waited out as told and does not count as a failed attempt (up to 20
such waits per request). A post whose answer was lost is safe to retry: the hub answers an
entry it already holds with its receipt again.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from accord.core import LedgerError, TransportError, load_json
from accord.ledger import (
    Entry,
    KeyRegistry,
    SignedEntry,
    SignedReceipt,
    Signer,
    StoredCheckpoint,
    StoredCosignature,
    StoredEntry,
    Verifier,
    checkpoint_from_json,
    cosignature_from_json,
    cosignature_to_json,
    entry_from_json,
    receipt_from_json,
    sign_entry,
    utc_now,
    verify_signature,
)
from accord.net._hub_answers import refusal, retryable
from accord.net._limits import retry_after_s

__all__ = ["LedgerHead", "RemoteHub", "RemoteLedger", "RemoteStore", "check_receipt"]

log = logging.getLogger(__name__)

PREFIX = "/v1/ledger"
_MAX_WAITS = 20  # Retry-After waits per request, on top of ``attempts`` failures


@dataclass(frozen=True)
class LedgerHead:
    """The slot the next entry must be signed for."""

    log_id: str
    size: int
    prev: str

    @classmethod
    def from_json(cls, data: Any) -> LedgerHead:
        try:
            head = cls(str(data["log_id"]), int(data["size"]), str(data["prev"]))
        except (KeyError, TypeError, ValueError):
            raise TransportError("malformed ledger head from the hub") from None
        return head


class _Channel:
    """Requests to the hub's ledger API, retried on connection errors, timeouts and 5xx."""

    def __init__(
        self, client: httpx.Client, base_url: str, attempts: int, backoff_initial_s: float
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.client = client
        self.url = base_url.rstrip("/") + PREFIX
        self.attempts = attempts
        self.backoff_initial_s = backoff_initial_s

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        delay = self.backoff_initial_s
        attempt = waits = 0
        while True:
            after: float | None = None
            try:
                response = self.client.request(method, self.url + path, **kwargs)
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            else:
                if not retryable(response.status_code):
                    return response
                reason = f"status {response.status_code}"
                after = retry_after_s(response.status_code, response.headers.get("retry-after", ""))
            if after is not None and waits < _MAX_WAITS:  # the hub is busy, not failing
                waits += 1
                log.info("ledger %s %s busy (%s); retry in %.0f s", method, path, reason, after)
                time.sleep(after)
                continue
            attempt += 1
            if attempt >= self.attempts:
                raise TransportError(
                    f"the hub's ledger did not answer {method} {PREFIX}{path} "
                    f"after {attempt} attempts ({reason})"
                )
            pause = delay / 2 + random.uniform(0.0, delay / 2)
            log.warning("ledger %s %s failed (%s); retry in %.2f s", method, path, reason, pause)
            time.sleep(pause)
            delay = min(5.0, delay * 2)

    def get(self, path: str, what: str, **params: int | None) -> Any:
        """The JSON answer to ``GET path``; TransportError for any refusal."""
        query = {k: v for k, v in params.items() if v is not None}
        response = self.send("GET", path, params=query)
        if response.status_code != 200:
            raise refusal(response, what)
        return _json(response)


class RemoteLedger:
    """Signs entries as their author and has the hub at ``base_url`` append them.

    ``client`` carries the site's identity (its TLS client certificate, or the
    ``Accord-Site`` header on insecure loopback) and may have ``base_url`` built in
    (then pass ``""``). ``keys`` gives the registry that holds the hub's current key for
    checking receipts (e.g. ``lambda: replica.verifier.registry``); by default the keys
    of the genesis entry, read and verified once. ``verify_receipts=False`` skips that.
    """

    def __init__(
        self,
        client: httpx.Client,
        base_url: str = "",
        *,
        attempts: int = 5,
        slot_attempts: int = 20,
        backoff_initial_s: float = 0.05,
        keys: Callable[[], KeyRegistry] | None = None,
        verify_receipts: bool = True,
    ) -> None:
        self._channel = _Channel(client, base_url, attempts, backoff_initial_s)
        self.slot_attempts = slot_attempts
        self.verify_receipts = verify_receipts
        self._keys = keys
        self._genesis: KeyRegistry | None = None

    def head(self) -> LedgerHead:
        return LedgerHead.from_json(self._channel.get("/head", "the head read"))

    def record(self, author: Signer, kind: str, payload: Mapping[str, Any]) -> SignedReceipt:
        """Sign ``kind``/``payload`` as ``author`` for the head and append it; the receipt."""
        head = self.head()
        for attempt in range(self.slot_attempts):
            entry = Entry(
                head.log_id,
                head.size,
                author.org,
                author.key_id,
                kind,
                payload,
                head.prev,
                utc_now(),
            )
            signed = sign_entry(entry, author)
            response = self._channel.send("POST", "/entries", json=_posted(signed))
            if response.status_code == 409:
                head = LedgerHead.from_json(_json(response).get("head"))
                time.sleep(random.uniform(0.0, min(0.2, 0.005 * 2**attempt)))  # de-synchronise
                continue
            if response.status_code != 200:
                raise LedgerError(str(refusal(response, f"entry '{kind}'")))
            receipt = receipt_from_json(_json(response))
            if self.verify_receipts:
                check_receipt(receipt, signed, self._registry())
            return receipt
        raise LedgerError(
            f"entry '{kind}' not appended: its slot was taken {self.slot_attempts} times in a row"
        )

    def record_batch(
        self, author: Signer, items: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[SignedReceipt]:
        """One entry after another (not atomic: other authors' entries may interleave)."""
        return [self.record(author, kind, payload) for kind, payload in items]

    def _registry(self) -> KeyRegistry:
        if self._keys is not None:
            return self._keys()
        if self._genesis is None:
            page = self._channel.get("/entries", "the genesis read", start=0, stop=1)
            entries = _entries(page)
            if not entries:
                raise LedgerError("the hub's log has no genesis entry")
            verifier = Verifier()
            verifier.feed(entries[0])  # the genesis entry, signed by the key it names
            self._genesis = verifier.registry
        return self._genesis


def check_receipt(receipt: SignedReceipt, signed: SignedEntry, keys: KeyRegistry) -> None:
    """The hub signed that ``signed`` sits at its seq in its log; LedgerError if not."""
    entry = signed.entry
    try:
        body = load_json(receipt.body)
        org, key_id = str(body["org"]), str(body["key_id"])
    except (ValueError, KeyError, TypeError):
        raise LedgerError(f"malformed receipt for entry {entry.seq}") from None
    expected = {
        "type": "receipt",
        "log_id": entry.log_id,
        "seq": entry.seq,
        "leaf": signed.leaf.hex(),
        "size": entry.seq + 1,
    }
    if receipt.seq != entry.seq or any(body.get(k) != v for k, v in expected.items()):
        raise LedgerError(f"the hub's receipt does not match entry {entry.seq}")
    if org != keys.hub:
        raise LedgerError(f"the receipt for entry {entry.seq} is not signed by the hub")
    public = keys.public_key(org, key_id, entry.seq)
    if not verify_signature(public, receipt.signature, receipt.body):
        raise LedgerError(f"bad receipt signature for entry {entry.seq} (key {org}/{key_id})")


class RemoteStore:
    """The parts of the hub's store a :class:`~accord.ledger._replica.SiteReplica` reads."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel

    def size(self) -> int:
        return LedgerHead.from_json(self._channel.get("/head", "the head read")).size

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Entries with ``start <= seq < stop`` (all from ``start`` when None), page by page."""
        while stop is None or start < stop:
            page = _entries(
                self._channel.get("/entries", "the entries read", start=start, stop=stop)
            )
            if not page:
                return
            if [e.seq for e in page] != list(range(start, start + len(page))):
                raise LedgerError(f"the hub sent entries out of order from seq {start}")
            yield from page
            start += len(page)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new = self.size() if new_size is None else new_size
        data = self._channel.get("/consistency", "the consistency proof", old=old_size, new=new)
        try:
            return [bytes.fromhex(str(p)) for p in data["proof"]]
        except (KeyError, TypeError, ValueError):
            raise TransportError("malformed consistency proof from the hub") from None

    def checkpoints(self) -> list[StoredCheckpoint]:
        data = self._channel.get("/checkpoints", "the checkpoints read")
        return [checkpoint_from_json(c) for c in _items(data, "checkpoints")]

    def cosignatures(self, size: int | None = None) -> list[StoredCosignature]:
        data = self._channel.get("/cosignatures", "the co-signatures read", size=size)
        return [cosignature_from_json(c) for c in _items(data, "cosignatures")]


class RemoteHub:
    """The hub's ledger as a site's :class:`~accord.ledger._replica.SiteReplica` reads it.

    ``SiteReplica.pull(hub)``, ``sync(hub)`` and ``check(hub, cp)`` take a RemoteHub
    where they take a HubLedger in simulation.
    """

    def __init__(
        self,
        client: httpx.Client,
        base_url: str = "",
        *,
        attempts: int = 5,
        backoff_initial_s: float = 0.05,
    ) -> None:
        self._channel = _Channel(client, base_url, attempts, backoff_initial_s)
        self.store = RemoteStore(self._channel)
        self._log_id: str | None = None

    @property
    def log_id(self) -> str:
        if self._log_id is None:
            self._log_id = LedgerHead.from_json(self._channel.get("/head", "the head read")).log_id
        return self._log_id

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        response = self._channel.send("GET", "/checkpoint")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise refusal(response, "the checkpoint read")
        return checkpoint_from_json(_json(response))

    def add_cosignature(self, cs: StoredCosignature) -> None:
        """Send this site's co-signature; LedgerError if the hub refuses it."""
        response = self._channel.send("POST", "/cosignatures", json=cosignature_to_json(cs))
        if response.status_code != 200:
            raise LedgerError(str(refusal(response, f"the co-signature for size {cs.size}")))


def _posted(signed: SignedEntry) -> dict[str, str]:
    return {
        "entry": base64.b64encode(signed.raw).decode("ascii"),
        "signature": base64.b64encode(signed.signature).decode("ascii"),
    }


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = load_json(response.content)  # the hub is not trusted: bounded parsing
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise TransportError(f"the hub answered {response.status_code} without a JSON object")
    return data


def _items(data: Any, name: str) -> list[Any]:
    items = data.get(name) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise TransportError(f"malformed answer from the hub: field '{name}'")
    return items


def _entries(data: Any) -> list[StoredEntry]:
    return [entry_from_json(e) for e in _items(data, "entries")]
