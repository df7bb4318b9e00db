"""Untrusted JSON: bounded depth and integers, finite numbers, messages without values."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import MAX_JSON_DEPTH, MAX_JSON_INT, load_json

SECRET = 987654321987654321987654321  # a value that must never appear in a message


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_a_document_within_the_bounds_is_parsed_as_json_loads_would() -> None:
    text = '{"a": [1, -2, {"b": null, "c": true}], "d": "x\\u00e9", "e": 1.5}'
    assert load_json(text.encode()) == json.loads(text)
    assert load_json(bytearray(b"[]")) == load_json("[]") == []
    assert load_json(_deep(MAX_JSON_DEPTH)) is not None


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 150, 200_000])
def test_deep_nesting_is_a_value_error_not_a_recursion_error(levels: int) -> None:
    with pytest.raises(ValueError, match="nested"):
        load_json(_deep(levels))


def test_the_depth_limit_is_the_callers_choice() -> None:
    assert load_json(b'{"a": {"b": 1}}', max_depth=2) == {"a": {"b": 1}}
    with pytest.raises(ValueError, match="field 'a'"):
        load_json(b'{"a": {"b": 1}}', max_depth=1)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (b'{"size": %d}' % SECRET, "size"),
        (b'{"a": [0, %d]}' % -SECRET, "a.1"),
        (b"%d" % (MAX_JSON_INT + 1), "body"),
    ],
)
def test_an_integer_out_of_range_names_its_field_not_its_value(text: bytes, field: str) -> None:
    with pytest.raises(ValueError, match=f"field '{field}' is an integer out of range") as info:
        load_json(text)
    assert str(SECRET) not in str(info.value)
    assert str(MAX_JSON_INT + 1) not in str(info.value)


def test_the_integer_bound_is_inclusive_and_the_callers_choice() -> None:
    assert load_json(b"[%d, %d]" % (MAX_JSON_INT, -MAX_JSON_INT)) == [MAX_JSON_INT, -MAX_JSON_INT]
    with pytest.raises(ValueError, match="out of range"):
        load_json(b"11", max_int=10)


@pytest.mark.parametrize("text", [b"[NaN]", b"[Infinity]", b"[-Infinity]", b"[1e400]"])
def test_numbers_that_are_not_finite_are_refused(text: bytes) -> None:
    with pytest.raises(ValueError):
        load_json(text)


def test_floats_can_be_forbidden() -> None:
    for text in (b'{"x": 1.0}', b'{"x": 1e2}'):
        with pytest.raises(ValueError, match="field 'x' is a float"):
            load_json(text, floats=False)
    assert load_json(b'{"x": 100}', floats=False) == {"x": 100}


@pytest.mark.parametrize("text", [b"", b"\xff\xfe", b"{", b'{"a": 1,}', b"[1] x", b"'a'"])
def test_text_that_is_not_json_is_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        load_json(text)


def test_a_long_field_path_is_cut_in_the_message() -> None:
    key = "k" * 500
    with pytest.raises(ValueError) as info:
        load_json(b'{"%s": %d}' % (key.encode(), SECRET))
    assert len(str(info.value)) < 200


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_value_or_a_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        load_json(data)
