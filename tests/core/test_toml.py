"""TOML from a user's file: bounded like JSON, and never a RecursionError."""

from __future__ import annotations

import tomllib

import pytest

from accord.core import MAX_JSON_DEPTH, load_toml


def test_a_config_is_parsed_as_tomllib_would() -> None:
    text = 'name = "hcc"\n[site]\nport = 8443\nmpp = 0.5\nwhen = 2026-01-01\nids = [1, 2]\n'
    assert load_toml(text) == tomllib.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000 + "]" * 100_000,
        "a = " + "{b = " * 5_000 + "1" + "}" * 5_000,
        "a = " + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
    ],
)
def test_deep_nesting_is_a_decode_error(text: str) -> None:
    deeper = f"nested deeper than {MAX_JSON_DEPTH} levels"
    with pytest.raises(tomllib.TOMLDecodeError, match=deeper):
        load_toml(text)


@pytest.mark.parametrize(("text", "field"), [("n = 1%s" % ("0" * 30), "n"), ("x = inf", "x")])
def test_out_of_range_numbers_are_a_decode_error_naming_the_key(text: str, field: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError, match=f"field '{field}'") as info:
        load_toml(text)
    assert "0" * 30 not in str(info.value)


def test_text_that_is_not_toml_is_still_a_decode_error() -> None:
    with pytest.raises(tomllib.TOMLDecodeError):
        load_toml("a = ")
