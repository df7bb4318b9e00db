"""The hub's HTTP surface under abuse: every request answered below 500, nothing logged
as an error.

The app (tasks, replies, blobs and the ledger router) runs in-process behind FastAPI's
TestClient, so no sockets, threads or clocks are involved: long polls are capped at 0 s
(``max_wait_s=0``) and Hypothesis runs derandomized, without a database, with a fixed
number of examples. Requests come from an authenticated site, a site that holds no task,
and callers without credentials; they carry random and hostile query values (huge,
negative, non-numeric), headers and bodies (random bytes, JSON nested 100,000 deep,
integers past 2**63, wire frames and blob references with one field replaced, ledger
entries and co-signatures with mutated fields). A 5xx is a bug the hub must fix at its
cause, not hide: the app maps only unexpected exceptions to 500.
"""

from __future__ import annotations

import base64
import json
import logging
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from accord.core import LedgerError
from accord.crypto import Identity, new_identity
from accord.ledger import Entry, HubLedger, SQLiteLedgerStore, genesis_payload, sign_entry
from accord.net import (
    LockedHubLedger,
    Reply,
    Task,
    TaskQueue,
    authenticate_site_header,
    create_app,
    ledger_router,
)
from accord.net._app import IDEMPOTENCY_HEADER
from accord.net._chunks import BLOB_REF_MEDIA_TYPE, ENVELOPE_MEDIA_TYPE, BlobRef
from accord.net._messages import wire_prefix
from tests.conftest import fuzz_settings

FUZZ = fuzz_settings(400)

LOG_ID = "log-fuzz"
DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = 10**30


@dataclass
class Hub:
    client: TestClient
    queue: TaskQueue
    ledger: LockedHubLedger
    site: Identity
    blob: str  # a blob site "a" committed


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp("hub")
    queue = TaskQueue(folder / "queue.sqlite", poll_interval_s=0.01)
    hub_key, site = new_identity("hub"), new_identity("a")
    genesis = genesis_payload("test", "hub", [hub_key.public.to_dict(), site.public.to_dict()])
    ledger = LockedHubLedger(
        lambda: HubLedger.create(SQLiteLedgerStore(folder / "l.sqlite"), hub_key, LOG_ID, genesis)
    )
    ledger.checkpoint()
    for task_id in ("t1", "t2"):
        queue.post(Task.build(task_id=task_id, plan_id="p", round=0, site="a", kind="stats"))
    digest, size = queue.blobs.put(b"payload bytes")
    queue.add_blob(digest, "a", size)
    app = create_app(queue, authenticate_site_header, routers=[ledger_router(ledger)], max_wait_s=0)
    client = TestClient(app, raise_server_exceptions=False)
    yield Hub(client, queue, ledger, site, digest)
    client.close()
    ledger.close()
    queue.close()


# --- strategies ------------------------------------------------------------------------------

_HEADER_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -_.:;/=+", max_size=30)
_NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 2**64, HUGE, -HUGE]),
)
_QUERY_VALUE = st.one_of(
    _NUMBERS.map(str),
    st.sampled_from(["", "nan", "inf", "-inf", "1e400", "1.5", "0x10", "١٢", " 1", "true"]),
    st.text(max_size=12),
)
_QUERY = st.dictionaries(
    st.sampled_from(["wait", "offset", "length", "start", "stop", "old", "new", "size", "x"]),
    _QUERY_VALUE,
    max_size=3,
)
_JSON_VALUE = st.one_of(
    _NUMBERS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from([None, True, [], {}, "0" * 64, "t1", "a", "stats", "DEEP", "HUGE"]),
)


def _json_bytes(doc: Any) -> bytes:
    """JSON text with the markers replaced by what ``json.dumps`` cannot write."""
    text = json.dumps(doc).encode()
    return text.replace(b'"DEEP"', DEEP).replace(b'"HUGE"', b"%d" % HUGE).replace(b'"NAN"', b"NaN")


def _mutated(doc: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    out = dict(doc)
    if value == "DROP":
        out.pop(name, None)
    else:
        out[name] = value
    return out


def _reply_header(task_id: str = "t1") -> dict[str, Any]:
    reply = Reply.build(task_id=task_id, site="a", kind="stats", weight=1.0, counts={"n": 3})
    doc: dict[str, Any] = json.loads(reply.wire_header())
    return doc


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    """A reply frame with one header field replaced or dropped, and maybe a lying prefix."""
    header = _reply_header(draw(st.sampled_from(["t1", "t2", "t9"])))
    name = draw(st.sampled_from([*sorted(header), "payload", "extra"]))
    value = draw(st.one_of(_JSON_VALUE, st.just("DROP"), st.just("NAN")))
    raw = _json_bytes(_mutated(header, name, value))
    payload = draw(st.sampled_from([b"", b"\x00" * 8, b"not safetensors"]))
    declared = draw(st.sampled_from(["true", "short", "long", "huge"]))
    lengths = {
        "true": (len(raw), len(payload)),
        "short": (max(0, len(raw) - 1), len(payload)),
        "long": (len(raw), len(payload) + 5),
        "huge": (2**32 - 1, 2**64 - 1),
    }[declared]
    return wire_prefix(*lengths) + raw + payload


@st.composite
def _blob_ref(draw: st.DrawFn, blob: str) -> bytes:
    ref = BlobRef(task_id="t1", blob=blob, size=13, header=json.dumps(_reply_header()))
    doc = json.loads(ref.to_wire())
    name = draw(st.sampled_from([*sorted(doc), "extra"]))
    return _json_bytes(_mutated(doc, name, draw(st.one_of(_JSON_VALUE, st.just("DROP")))))


@st.composite
def _ledger_post(draw: st.DrawFn, site: Identity, hub: LockedHubLedger) -> bytes:
    """A posted entry or co-signature, signed by site "a", with one field mutated."""
    seq, prev = hub.slot()
    fields: dict[str, Any] = {
        "log_id": LOG_ID,
        "seq": seq,
        "org": "a",
        "key_id": site.key_id,
        "kind": "task.accepted",
        "payload": {"plan": "p"},
        "prev": prev,
        "time": "2026-01-01T00:00:00Z",
    }
    name = draw(st.sampled_from([*sorted(fields), "none"]))
    if name != "none":
        fields[name] = draw(_JSON_VALUE)
    try:
        signed = sign_entry(Entry(**fields), site)
        raw, signature = signed.raw, signed.signature
    except Exception:  # a field sign_entry cannot encode: post JSON bytes unsigned
        raw, signature = _json_bytes(fields), b"\x00" * 64
    posted = {
        "entry": base64.b64encode(raw).decode(),
        "signature": base64.b64encode(signature).decode(),
    }
    if draw(st.booleans()):
        posted[draw(st.sampled_from(["entry", "signature", "extra"]))] = draw(_JSON_VALUE)
    return _json_bytes(posted)


def _cosignature() -> st.SearchStrategy[bytes]:
    doc = {"size": 1, "root": "00" * 32, "org": "a", "key_id": "k", "signature": "AAAA"}
    names = st.sampled_from([*sorted(doc), "extra"])
    return st.builds(
        lambda name, value: _json_bytes(_mutated(doc, name, value)),
        names,
        st.one_of(_JSON_VALUE, st.just("DROP")),
    )


def _bodies(hub: Hub) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200),
        st.sampled_from([b"", DEEP, b"{" * 50_000, b'{"size": %d}' % HUGE, b'{"size": 1e400}']),
        _JSON_VALUE.map(lambda v: _json_bytes({"size": v})),
        _frame(),
        _blob_ref(hub.blob),
        _ledger_post(hub.site, hub.ledger),
        _cosignature(),
    )


def _paths(blob: str) -> st.SearchStrategy[str]:
    digest = st.one_of(
        st.sampled_from([blob, "0" * 64, "A" * 64, "0" * 63, "..", "%2e%2e", "x" * 500]),
        st.text(alphabet=string.hexdigits + "-_.~", min_size=1, max_size=70),
    )
    fixed = st.sampled_from(
        [
            "/v1/health",
            "/v1/tasks/next",
            "/v1/replies",
            "/v1/ledger/head",
            "/v1/ledger/entries",
            "/v1/ledger/checkpoint",
            "/v1/ledger/checkpoints",
            "/v1/ledger/consistency",
            "/v1/ledger/cosignatures",
            "/v1/nothing",
            "/",
        ]
    )
    blobs = st.builds(
        lambda d, tail: f"/v1/blobs/{d}{tail}",
        digest,
        st.sampled_from(["", "/upload", "/commit", "/other"]),
    )
    return st.one_of(fixed, blobs)


def _headers() -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "Accord-Site": st.one_of(st.sampled_from(["a", "b", "hub"]), _HEADER_TEXT),
            "Content-Type": st.one_of(
                st.sampled_from(
                    [ENVELOPE_MEDIA_TYPE, BLOB_REF_MEDIA_TYPE, "application/json", "text/plain"]
                ),
                _HEADER_TEXT,
            ),
            IDEMPOTENCY_HEADER: st.one_of(st.sampled_from(["t1", "t2", "t9", ""]), _HEADER_TEXT),
        },
    )


@st.composite
def _requests(draw: st.DrawFn, hub: Hub) -> dict[str, Any]:
    method = draw(st.sampled_from(["GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH"]))
    request: dict[str, Any] = {
        "method": method,
        "url": draw(_paths(hub.blob)),
        "params": draw(_QUERY),
        "headers": draw(_headers()),
    }
    if method in ("POST", "PUT", "PATCH"):
        request["content"] = draw(_bodies(hub))
    return request


# --- the properties -----------------------------------------------------------------------


def _assert_handled(hub: Hub, request: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        answer = hub.client.request(**request)
    assert answer.status_code < 500, (request["method"], request["url"], answer.text[:200])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]
    assert "Traceback" not in answer.text


@FUZZ
@given(data=st.data())
def test_no_request_gets_a_5xx_or_logs_an_error(
    hub: Hub, data: st.DataObject, caplog: pytest.LogCaptureFixture
) -> None:
    _assert_handled(hub, data.draw(_requests(hub)), caplog)


@FUZZ
@given(data=st.data())
def test_no_ledger_request_gets_a_5xx(
    hub: Hub, data: st.DataObject, caplog: pytest.LogCaptureFixture
) -> None:
    method, path = data.draw(
        st.sampled_from(
            [
                ("GET", "/v1/ledger/entries"),
                ("GET", "/v1/ledger/consistency"),
                ("GET", "/v1/ledger/cosignatures"),
                ("POST", "/v1/ledger/entries"),
                ("POST", "/v1/ledger/cosignatures"),
            ]
        )
    )
    request: dict[str, Any] = {"method": method, "url": path, "headers": {"Accord-Site": "a"}}
    if method == "GET":
        request["params"] = data.draw(_QUERY)
    elif path.endswith("entries"):
        request["content"] = data.draw(_ledger_post(hub.site, hub.ledger))
    else:
        request["content"] = data.draw(_cosignature())
    _assert_handled(hub, request, caplog)


# --- the audit's findings, pinned ----------------------------------------------------------

AUDIT = [
    ("GET", "/v1/ledger/entries", {"start": str(HUGE)}, b"", "field 'query.start'"),
    ("GET", "/v1/ledger/entries", {"stop": str(HUGE)}, b"", "field 'query.stop'"),
    ("GET", "/v1/ledger/consistency", {"old": "0", "new": str(HUGE)}, b"", "field 'query.new'"),
    ("GET", "/v1/ledger/cosignatures", {"size": str(HUGE)}, b"", "field 'query.size'"),
    ("POST", "/v1/ledger/cosignatures", {}, DEEP, "nested deeper than 64 levels"),
    ("POST", "/v1/ledger/cosignatures", {}, b'{"size": %d}' % HUGE, "field 'size' is an integer"),
    ("POST", "/v1/ledger/entries", {}, DEEP, "malformed ledger entry"),
    ("GET", "/v1/blobs/" + "0" * 64, {"offset": str(HUGE)}, b"", "field 'query.offset'"),
    ("GET", "/v1/blobs/" + "0" * 64, {"length": str(HUGE)}, b"", "field 'query.length'"),
    ("POST", "/v1/blobs/" + "0" * 64 + "/commit", {}, b'{"size": %d}' % HUGE, "field 'size'"),
    ("GET", "/v1/tasks/next", {"wait": "1e400"}, b"", "field 'query.wait'"),
]


@pytest.mark.parametrize(("method", "path", "params", "body", "match"), AUDIT)
def test_hostile_values_are_a_400_naming_the_field_not_the_value(
    hub: Hub, method: str, path: str, params: dict[str, str], body: bytes, match: str
) -> None:
    answer = hub.client.request(
        method, path, params=params, content=body or None, headers={"Accord-Site": "a"}
    )
    assert answer.status_code == 400, answer.text
    assert match in answer.json()["error"]
    assert str(HUGE) not in answer.text


@pytest.mark.parametrize(("old", "new"), [(5, 3), (0, 2**63 - 1), (3, 2)])
def test_a_consistency_proof_outside_the_log_is_a_400_without_the_hubs_paths(
    hub: Hub, old: int, new: int
) -> None:
    answer = hub.client.get(
        "/v1/ledger/consistency", params={"old": old, "new": new}, headers={"Accord-Site": "a"}
    )
    assert answer.status_code == 400
    assert "need old <= new <=" in answer.json()["error"]
    assert "sqlite" not in answer.text and "/" not in answer.json()["error"]


def test_the_last_possible_page_start_is_an_empty_page(hub: Hub) -> None:
    answer = hub.client.get(
        "/v1/ledger/entries", params={"start": 2**63 - 1}, headers={"Accord-Site": "a"}
    )
    assert answer.status_code == 200
    assert answer.json() == {"entries": []}


def test_a_deep_entry_inside_a_posted_entry_is_a_400(hub: Hub) -> None:
    posted = {"entry": base64.b64encode(DEEP).decode(), "signature": "AAAA"}
    answer = hub.client.post(
        "/v1/ledger/entries", content=json.dumps(posted), headers={"Accord-Site": "a"}
    )
    assert answer.status_code == 400
    assert "nested deeper" in answer.json()["error"]


def test_a_reply_with_a_weight_that_is_not_finite_is_a_400(hub: Hub) -> None:
    header = json.dumps(_reply_header()).replace('"weight": 1.0', '"weight": NaN').encode()
    answer = hub.client.post(
        "/v1/replies",
        content=wire_prefix(len(header), 0) + header,
        headers={"Accord-Site": "a", IDEMPOTENCY_HEADER: "t1"},
    )
    assert answer.status_code == 400
    assert "field 'weight'" in answer.json()["error"]


def test_the_fixture_hub_answers_honest_requests(hub: Hub, tmp_path: Path) -> None:
    """The fuzzed hub is a working one: the strategies start from requests it accepts."""
    site = {"Accord-Site": "a"}
    assert hub.client.get("/v1/ledger/head", headers=site).status_code == 200
    blob = hub.client.get(f"/v1/blobs/{hub.blob}", headers=site)
    assert blob.status_code == 200 and blob.content == b"payload bytes"
    assert hub.client.get("/v1/tasks/next", headers={"Accord-Site": "b"}).status_code == 204


def test_a_store_error_reaches_the_caller_without_the_hubs_file_path(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever ledger-store error a request meets, the site is told it without where the
    hub keeps its ledger (the hub's own log keeps the whole text)."""
    where = hub.ledger.schedule(lambda h: h.store.where).result()
    assert where.endswith("l.sqlite")

    def broken(store: SQLiteLedgerStore) -> list[object]:
        raise LedgerError(f"{where}: database disk image is malformed")

    monkeypatch.setattr(SQLiteLedgerStore, "checkpoints", broken)
    answer = hub.client.get("/v1/ledger/checkpoints", headers={"Accord-Site": "a"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "the hub's ledger: database disk image is malformed"
    assert where not in answer.text
