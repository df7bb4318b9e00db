"""Identities: signing, verification, key ids and public-identity validation."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core import ConfigError, KeyFileError
from accord.crypto import Identity, PublicIdentity, Signer, key_id_of, new_identity

_SIGNER = new_identity("hypothesis-org")


def test_sign_verify_round_trip(identity: Identity) -> None:
    signature = identity.sign(b"entry bytes")
    assert len(signature) == 64
    assert identity.public.verify(signature, b"entry bytes")


def test_tampered_data_or_signature_is_rejected(identity: Identity) -> None:
    signature = identity.sign(b"payload")
    assert not identity.public.verify(signature, b"payloaD")
    assert not identity.public.verify(signature[:-1] + bytes([signature[-1] ^ 1]), b"payload")


def test_bad_signature_shapes_return_false(identity: Identity) -> None:
    assert not identity.public.verify(b"", b"x")
    assert not identity.public.verify(b"\x00" * 63, b"x")
    assert not identity.public.verify(b"\xff" * 64, b"x")


def test_other_organisation_key_does_not_verify(identity: Identity) -> None:
    other = new_identity("hospital-b")
    assert not other.public.verify(identity.sign(b"m"), b"m")


def test_key_id_is_sha256_prefix_and_stable(identity: Identity) -> None:
    raw = identity.public.public_key
    assert identity.key_id == hashlib.sha256(raw).hexdigest()[:16] == key_id_of(raw)
    again = PublicIdentity.from_dict(identity.public.to_dict())
    assert again.key_id == identity.key_id and again == identity.public


def test_identity_satisfies_signer_and_hides_private_key(identity: Identity) -> None:
    signer: Signer = identity
    assert signer.org == "hospital-a" and signer.key_id == identity.public.key_id
    assert "PRIVATE" not in repr(identity) and identity.key_id in repr(identity)


def test_to_dict_shape(identity: Identity) -> None:
    d = identity.public.to_dict()
    assert set(d) == {"org", "key_id", "public_key"}
    assert base64.b64decode(d["public_key"]) == identity.public.public_key


@pytest.mark.parametrize("org", ["Hospital", "", "-a", "a b", "a/b", "x" * 64, "é"])
def test_new_identity_rejects_bad_org(org: str) -> None:
    with pytest.raises(ConfigError, match="not a valid organisation name"):
        new_identity(org)


@pytest.mark.parametrize("org", ["a", "0", "hospital-a", "uni.lyon_2", "x" * 63])
def test_new_identity_accepts_good_org(org: str) -> None:
    assert new_identity(org).org == org


def _valid() -> dict[str, object]:
    return dict(new_identity("site-1").public.to_dict())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"org": "Bad Org"}, "org"),
        ({"org": 7}, "org"),
        ({"key_id": "0" * 16}, "key_id"),
        ({"public_key": "not base64!"}, "public_key"),
        ({"public_key": base64.b64encode(b"\x01" * 31).decode()}, "public_key"),
        ({"extra": "x"}, "extra"),
    ],
)
def test_from_dict_errors_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(KeyFileError, match=f"field '{field}'"):
        PublicIdentity.from_dict({**_valid(), **change})


@pytest.mark.parametrize("field", ["org", "key_id", "public_key"])
def test_from_dict_missing_field(field: str) -> None:
    d = _valid()
    del d[field]
    with pytest.raises(KeyFileError, match=f"field '{field}' is missing"):
        PublicIdentity.from_dict(d)


def test_public_identity_constructor_validates() -> None:
    with pytest.raises(KeyFileError, match="field 'public_key'"):
        PublicIdentity(org="a", key_id="0" * 16, public_key=b"short")


@given(
    message=st.binary(min_size=1, max_size=256),
    position=st.integers(min_value=0),
    delta=st.integers(min_value=1, max_value=255),
)
def test_any_single_byte_change_breaks_verification(
    message: bytes, position: int, delta: int
) -> None:
    signature = _SIGNER.sign(message)
    assert _SIGNER.public.verify(signature, message)
    i = position % len(signature)
    bad_signature = signature[:i] + bytes([signature[i] ^ delta]) + signature[i + 1 :]
    assert not _SIGNER.public.verify(bad_signature, message)
    j = position % len(message)
    bad_message = message[:j] + bytes([message[j] ^ delta]) + message[j + 1 :]
    assert not _SIGNER.public.verify(signature, bad_message)
