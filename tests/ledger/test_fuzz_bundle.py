"""The bundle reader under garbage: a LedgerError (or a failed report), never a crash.

An auditor runs ``accord ledger verify BUNDLE`` on a file anyone could have written. The
reader and the verifier must answer every file with a :class:`LedgerError` or a report
that names the first failure; the CLI with one line on stderr and a non-zero exit. The
files are a real small bundle with one line mutated (random bytes, non-UTF-8, a field
replaced by a huge, deep, negative or foreign value, a field of a signed entry replaced
and the entry re-encoded canonically, lines dropped or repeated) and random bytes;
``ledger show`` and ``ledger anchor`` get the mutated bundles too. Hypothesis runs
derandomized with a fixed number of examples, so the file takes seconds and fails the
same way on every machine.
"""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from accord.cli import app
from accord.core import MAX_JSON_INT, LedgerError
from accord.ledger import export_bundle, open_source, verify_log
from tests.conftest import fuzz_settings
from tests.ledger.conftest import build_log

FUZZ = fuzz_settings(300)

_DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def bundle_lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("bundle")
    log = build_log(folder, n=6)
    export_bundle(log.ledger.store, folder / "b.jsonl")
    log.ledger.store.close()
    return (folder / "b.jsonl").read_bytes().splitlines()


def _read_and_verify(path: Path) -> None:
    """What ``ledger verify`` does with a file: LedgerError or a report, nothing else."""
    source = open_source(path)
    try:
        verify_log(source.entries(), source.checkpoints, source.cosignatures)
    finally:
        source.close()


def _check(path: Path) -> None:
    with contextlib.suppress(LedgerError):
        _read_and_verify(path)


def test_the_unmutated_bundle_verifies(bundle_lines: list[bytes], tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_bytes(b"\n".join(bundle_lines) + b"\n")
    source = open_source(path)
    report = verify_log(source.entries(), source.checkpoints, source.cosignatures)
    assert report.ok and report.size == 6


_VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([MAX_JSON_INT, MAX_JSON_INT + 1, -1, 10**30, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "00" * 32, "!!!", "AAAA", "eyJ9", None, True, [], {}]),
    st.just("DEEP"),
)


def _replace_field(line: bytes, name: str, value: Any) -> bytes:
    record = json.loads(line)
    record[name] = value
    text = json.dumps(record)
    return text.replace('"DEEP"', _DEEP).encode()


def _replace_entry_field(line: bytes, name: str, value: Any) -> bytes:
    """An entry line whose signed entry bytes hold ``value`` at ``name``, still canonical
    JSON (sorted keys, no spaces), so the parser gets past the encoding check."""
    record = json.loads(line)
    entry = json.loads(base64.b64decode(record["entry"]))
    entry[name] = value
    raw = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    record["entry"] = base64.b64encode(raw.replace('"DEEP"', _DEEP).encode()).decode()
    return json.dumps(record).encode()


@st.composite
def _mutated(draw: st.DrawFn, lines: list[bytes]) -> bytes:
    lines = list(lines)
    index = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["field", "entry", "bytes", "flip", "drop", "repeat", "cut"]))
    if how == "entry":
        entries = [i for i, line in enumerate(lines) if b'"type": "entry"' in line]
        index = draw(st.sampled_from(entries))
        name = draw(st.sampled_from(["v", "seq", "org", "kind", "payload", "prev", "time", "x"]))
        lines[index] = _replace_entry_field(lines[index], name, draw(_VALUES))
    elif how == "field":
        names = [*sorted(json.loads(lines[index])), "extra"]
        lines[index] = _replace_field(lines[index], draw(st.sampled_from(names)), draw(_VALUES))
    elif how == "bytes":
        lines[index] = draw(st.binary(max_size=64)).replace(b"\n", b"")
    elif how == "flip":
        at = draw(st.integers(0, len(lines[index]) - 1))
        raw = bytearray(lines[index])
        raw[at] ^= draw(st.integers(1, 255))
        lines[index] = bytes(raw).replace(b"\n", b"")
    elif how == "drop":
        del lines[index]
    elif how == "repeat":
        lines.insert(index, lines[index])
    else:
        lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
    return b"\n".join(lines) + b"\n"


@FUZZ
@given(data=st.data())
def test_a_mutated_bundle_is_a_ledger_error_or_a_report(
    bundle_lines: list[bytes], tmp_path: Path, data: st.DataObject
) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(data.draw(_mutated(bundle_lines)))
    _check(path)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_random_bytes_are_a_ledger_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(raw)
    with pytest.raises(LedgerError):
        _read_and_verify(path)


HEADER = b'{"type": "header", "format": "accord-ledger-bundle", "version": 1}'

# the files an attacker would try first, each answered by the reader with this text
GARBAGE: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "line 1: not valid JSON"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32), "line 1: not UTF-8"),
    "deep header": (_DEEP.encode(), "line 1: nested deeper"),
    "deep line": (HEADER + b"\n" + _DEEP.encode(), "line 2: nested deeper"),
    "huge int": (HEADER + b'\n{"type": "entry", "seq": 1%s}' % (b"0" * 30), "line 2: field 'seq'"),
    "nan": (HEADER + b'\n{"type": "checkpoint", "size": NaN}', "line 2: not valid JSON"),
    "a list": (b"[1, 2]", "line 1: expected a JSON object"),
    "fake sqlite": (b"SQLite format 3\x00" + bytes(100), "not an accord ledger store"),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_is_a_ledger_error_naming_file_and_line(name: str, tmp_path: Path) -> None:
    raw, match = GARBAGE[name]
    path = tmp_path / "g.jsonl"
    path.write_bytes(raw)
    with pytest.raises(LedgerError, match=match) as info:
        _read_and_verify(path)
    assert "g.jsonl" in str(info.value)
    assert "1" * 30 not in str(info.value)


def test_a_folder_is_a_ledger_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="not a file"):
        open_source(tmp_path)


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_the_cli_answers_garbage_with_one_line_and_no_traceback(name: str, tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_bytes(GARBAGE[name][0])
    result = CliRunner().invoke(app, ["ledger", "verify", str(path), "--no-anchor"])
    assert result.exit_code == LedgerError.exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.strip().startswith("error: LedgerError:")
    assert len(result.stderr.strip().splitlines()) == 1


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_show_and_anchor_answer_a_mutated_bundle_with_output_or_one_line(
    bundle_lines: list[bytes], tmp_path: Path, data: st.DataObject
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(data.draw(_mutated(bundle_lines)))
    for command in (["ledger", "show", str(path)], ["ledger", "anchor", str(path)]):
        result = CliRunner().invoke(app, command)
        assert result.exception is None or isinstance(result.exception, SystemExit), command
        assert "Traceback" not in result.output
        if result.exit_code != 0:
            assert result.exit_code == LedgerError.exit_code, result.output
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
