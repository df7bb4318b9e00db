"""Member cards: round trip, and every refusal naming the file and the field (#15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from accord.core import KeyFileError
from accord.crypto import (
    CARD_VERSION,
    Identity,
    MemberCard,
    enroll,
    load_card,
    new_identity,
    save_identity,
    write_card,
)


def _csr(folder: Path, org: str) -> str:
    return enroll(folder, org)[1].read_text(encoding="ascii")


@pytest.fixture
def card_file(identity: Identity, tmp_path: Path) -> Path:
    return write_card(
        tmp_path / "card", identity.public, "site", _csr(tmp_path / "tls", "hospital-a")
    )


def _rewrite(path: Path, **changes: Any) -> Path:
    document = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            document.pop(key)
        else:
            document[key] = value
    path.write_text(json.dumps(document))
    return path


def test_a_card_round_trips(card_file: Path, identity: Identity) -> None:
    assert card_file.name == "hospital-a.card.json"
    document = json.loads(card_file.read_text())
    assert list(document) == ["card", "org", "role", "key_id", "public_key", "csr"]
    assert document["card"] == CARD_VERSION == 1
    assert {k: document[k] for k in ("org", "key_id", "public_key")} == identity.public.to_dict()
    card = load_card(card_file)
    assert isinstance(card, MemberCard)
    assert (card.org, card.role, card.public) == ("hospital-a", "site", identity.public)
    assert card.to_dict() == document
    assert card.organisation() == {**identity.public.to_dict(), "role": "site"}
    assert "BEGIN CERTIFICATE REQUEST" in card.csr
    assert oct(card_file.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra": "x"}, r"unexpected field 'extra'"),
        ({"csr": None}, r"field 'csr' is missing"),
        ({"card": 2}, r"field 'card' is not 1"),
        ({"card": True}, r"field 'card' is not 1"),
        ({"role": "admin"}, r"field 'role' is not one of site, researcher, operator, hub"),
        ({"org": "Hospital A"}, r"field 'org': .* is not a valid organisation name"),
        ({"key_id": "0" * 16}, r"field 'key_id' does not match the public key"),
        ({"public_key": "not base64!"}, r"field 'public_key' is not valid base64"),
        ({"public_key": 7}, r"field 'public_key' is a int; expected a string"),
        ({"csr": "garbage"}, r"field 'csr': is not a PEM certificate request"),
    ],
)
def test_a_bad_field_is_refused_naming_the_file_and_field(
    card_file: Path, changes: dict[str, Any], message: str
) -> None:
    _rewrite(card_file, **changes)
    with pytest.raises(KeyFileError, match=rf"^{card_file}: .*{message}"):
        load_card(card_file)


def test_a_card_whose_request_names_another_org_is_refused(card_file: Path, tmp_path: Path) -> None:
    _rewrite(card_file, csr=_csr(tmp_path / "other", "hospital-b"))
    with pytest.raises(
        KeyFileError, match=r"field 'csr' is a request for organisation 'hospital-b'"
    ):
        load_card(card_file)


def test_a_key_id_that_belongs_to_another_key_is_refused(card_file: Path) -> None:
    other = new_identity("hospital-a").public.to_dict()
    _rewrite(card_file, key_id=other["key_id"])
    with pytest.raises(KeyFileError, match=rf"^{card_file}: field 'key_id' does not match"):
        load_card(card_file)


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"", b"\xff\xfe", b"[" * 10_000])
def test_a_file_that_is_no_card_object_is_refused(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "x.card.json"
    path.write_bytes(raw)
    with pytest.raises(KeyFileError, match=rf"^{path}: "):
        load_card(path)


def test_a_missing_or_huge_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no such member card file"):
        load_card(tmp_path / "absent.card.json")
    huge = tmp_path / "huge.card.json"
    huge.write_bytes(b" " * (2 << 20))
    with pytest.raises(KeyFileError, match="larger than"):
        load_card(huge)


def test_a_private_key_file_is_refused_without_echoing_it(
    identity: Identity, tmp_path: Path
) -> None:
    key_path, _ = save_identity(identity, tmp_path / "keys")
    secret = json.loads(key_path.read_text())["private_key_pem"]
    with pytest.raises(KeyFileError, match="is a private key file, not a member card") as caught:
        load_card(key_path)
    assert secret not in str(caught.value) and "PRIVATE KEY" not in str(caught.value)


def test_a_tls_private_key_in_the_csr_field_is_refused_without_echoing_it(
    card_file: Path, tmp_path: Path
) -> None:
    tls_key = (tmp_path / "tls" / "hospital-a.tls.key").read_text()
    _rewrite(card_file, csr=tls_key)
    with pytest.raises(KeyFileError, match=r"field 'csr': holds a private key") as caught:
        load_card(card_file)
    assert tls_key.splitlines()[1] not in str(caught.value)


def test_write_card_refuses_what_load_card_would(identity: Identity, tmp_path: Path) -> None:
    csr = _csr(tmp_path / "tls", "hospital-b")
    with pytest.raises(KeyFileError, match="is a request for organisation 'hospital-b'"):
        write_card(tmp_path / "card", identity.public, "site", csr)
    assert not (tmp_path / "card" / "hospital-a.card.json").exists()
