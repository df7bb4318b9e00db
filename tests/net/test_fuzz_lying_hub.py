"""A site's clients against a lying hub: a TransportError or LedgerError, never a crash.

The hub is not trusted. Whatever it answers (any status, JSON nested 100,000 deep, a
list where an object belongs, integers past 2**63, honest-looking answers with one field
replaced, random bytes), :class:`RemoteLedger` and :class:`RemoteHub` must raise one of
accord's errors, which the site logs and retries, and never a RecursionError, KeyError or
AttributeError that would end its polling thread. An ``httpx.MockTransport`` plays the
hub in-process; Hypothesis runs derandomized with a fixed number of examples.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core import AccordError, TransportError
from accord.crypto import Identity, new_identity
from accord.ledger import StoredCosignature
from accord.net import RemoteHub, RemoteLedger
from accord.net._hub_answers import MAX_ERROR_CHARS, refusal
from accord.net._site_client import _staged
from tests.conftest import fuzz_settings

FUZZ = fuzz_settings(300)
DEEP = b"[" * 100_000 + b"]" * 100_000
B64 = base64.b64encode(b"x" * 64).decode()

# honest-looking answers of each endpoint, one of whose fields the hub will replace
SHAPES: list[dict[str, Any]] = [
    {"log_id": "log", "size": 1, "prev": "00" * 32},
    {"seq": 0, "body": B64, "signature": B64},
    {"error": "no", "head": {"log_id": "log", "size": 1, "prev": "00" * 32}},
    {"entries": [{"seq": 0, "entry": B64, "signature": B64, "org": "a", "kind": "k"}]},
    {"checkpoints": [{"size": 1, "root": "00" * 32, "body": B64, "signature": B64}]},
    {"cosignatures": [{"size": 1, "root": "00" * 32, "org": "a", "key_id": "k"}]},
    {"old": 0, "new": 1, "proof": ["00" * 32]},
    {"size": 1, "root": "00" * 32, "body": B64, "signature": B64, "org": "hub", "key_id": "k"},
]
_VALUES = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([None, True, "", "zz", [], {}, [1], {"a": 1}, "DEEP", "HUGE", "DROP"]),
    st.text(max_size=8),
)


def _render(doc: Any) -> bytes:
    text = json.dumps(doc).encode()
    return text.replace(b'"DEEP"', DEEP).replace(b'"HUGE"', b"1" + b"0" * 30)


@st.composite
def _body(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["shape", "shape", "bytes", "deep", "list", "empty"]))
    if kind == "bytes":
        return draw(st.binary(max_size=60))
    if kind == "deep":
        return DEEP
    if kind == "list":
        return b"[1, 2, 3]"
    if kind == "empty":
        return b""
    doc = json.loads(json.dumps(draw(st.sampled_from(SHAPES))))
    target = doc
    inner = [k for k, v in doc.items() if isinstance(v, list | dict)]
    if inner and draw(st.booleans()):
        value = doc[draw(st.sampled_from(inner))]
        target = value[0] if isinstance(value, list) and value else value
    if isinstance(target, dict):
        name = draw(st.sampled_from([*sorted(target), "extra"]))
        value = draw(_VALUES)
        if value == "DROP":
            target.pop(name, None)
        else:
            target[name] = value
    return _render(doc)


def _lying_hub(data: st.DataObject) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        status = data.draw(st.sampled_from([200, 200, 200, 400, 404, 409, 503]))
        return httpx.Response(status, content=data.draw(_body()))

    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://hub")


@pytest.fixture(scope="module")
def author() -> Identity:
    return new_identity("a")


CALLS: dict[str, Callable[[httpx.Client, Identity], object]] = {
    "head": lambda c, _: RemoteLedger(c, attempts=1).head(),
    "record": lambda c, a: RemoteLedger(c, attempts=1, slot_attempts=2, backoff_initial_s=0).record(
        a, "task.accepted", {"plan": "p"}
    ),
    "read": lambda c, _: list(RemoteHub(c, attempts=1).store.read(0, 3)),
    "size": lambda c, _: RemoteHub(c, attempts=1).store.size(),
    "consistency": lambda c, _: RemoteHub(c, attempts=1).store.consistency_proof(0, 1),
    "checkpoints": lambda c, _: RemoteHub(c, attempts=1).store.checkpoints(),
    "cosignatures": lambda c, _: RemoteHub(c, attempts=1).store.cosignatures(1),
    "latest checkpoint": lambda c, _: RemoteHub(c, attempts=1).latest_checkpoint(),
    "log id": lambda c, _: RemoteHub(c, attempts=1).log_id,
    "co-sign": lambda c, a: RemoteHub(c, attempts=1).add_cosignature(
        StoredCosignature(1, b"\x00" * 32, "a", a.key_id, b"\x00" * 64)
    ),
}


@FUZZ
@given(data=st.data())
def test_every_answer_is_a_value_or_an_accord_error(author: Identity, data: st.DataObject) -> None:
    call = CALLS[data.draw(st.sampled_from(sorted(CALLS)))]
    with _lying_hub(data) as client, contextlib.suppress(AccordError):
        call(client, author)


@pytest.mark.parametrize("name", sorted(set(CALLS) - {"co-sign"}))  # a 200 is all it reads
@pytest.mark.parametrize("body", [DEEP, b"[1]", b"\xff", b'{"size": 1' + b"0" * 30 + b"}"])
def test_each_call_refuses_a_hostile_answer(author: Identity, name: str, body: bytes) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    client = httpx.Client(transport=httpx.MockTransport(answer), base_url="http://hub")
    with client, pytest.raises(AccordError):
        CALLS[name](client, author)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"staged": 5}', 5),
        (b'{"staged": 10}', 10),
        (b'{"staged": -1}', None),
        (b'{"staged": 11}', None),
        (b'{"staged": true}', None),
        (b'{"staged": "5"}', None),
        (b"[5]", None),
        (DEEP, None),
        (b"\xff", None),
    ],
)
def test_a_site_believes_only_a_staged_count_within_its_upload(
    body: bytes, expected: int | None
) -> None:
    assert _staged(httpx.Response(200, content=body), 10) == expected


@pytest.mark.parametrize("body", [DEEP, b"[1]", b"\xff", b"", b'{"error": ["x"]}'])
def test_a_site_reads_any_refusal_body_without_crashing(body: bytes) -> None:
    error = refusal(httpx.Response(400, content=body), "the reply")
    assert isinstance(error, TransportError)
    assert "with status 400" in str(error)


FORGED = "no\n2026-12-07 INFO accord.site: task t-1 answered: ok\r\x1b[2K\x1b[31mhidden\x85\u2028"


@pytest.mark.parametrize("text", [FORGED, "x" * 1_000_000, FORGED * 50])
def test_a_hubs_error_text_cannot_forge_or_flood_the_sites_log(text: str) -> None:
    """The hub's text reaches the site's logs and errors as one printable, bounded line."""
    body = json.dumps({"error": text}).encode()
    message = str(refusal(httpx.Response(403, content=body), "the reply"))
    assert message.startswith("the hub refused the reply with status 403: ")
    shown = message.split(": ", 1)[1]
    assert len(shown) <= MAX_ERROR_CHARS + 1  # the text, and an ellipsis when it was cut
    assert all(ch.isprintable() for ch in message), "a control character got through"
    assert "\n" not in message and "\x1b" not in message
