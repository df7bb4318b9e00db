"""Key files: round trips, owner-only permissions, atomic creation, malformed files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa, x25519

from accord.core import KeyFileError
from accord.crypto import (
    KEY_FORMAT,
    PASSPHRASE_ENV,
    Identity,
    load_identity,
    load_public,
    new_identity,
    save_identity,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _rewrite(path: Path, document: dict[str, object]) -> None:
    path.write_text(json.dumps(document))
    path.chmod(0o600)


def test_save_load_round_trip(identity: Identity, saved: tuple[Path, Path]) -> None:
    key_path, pub_path = saved
    assert (key_path.name, pub_path.name) == ("hospital-a.key", "hospital-a.pub.json")
    loaded = load_identity(key_path)
    assert (loaded.org, loaded.key_id) == (identity.org, identity.key_id)
    assert identity.public.verify(loaded.sign(b"m"), b"m")
    assert load_public(pub_path) == identity.public


def test_file_modes_and_format(saved: tuple[Path, Path]) -> None:
    key_path, pub_path = saved
    assert _mode(key_path) == 0o600 and _mode(pub_path) == 0o644
    document = json.loads(key_path.read_text())
    assert document["format"] == KEY_FORMAT
    assert document["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")


def test_no_temp_files_left(saved: tuple[Path, Path]) -> None:
    names = sorted(p.name for p in saved[0].parent.iterdir())
    assert names == ["hospital-a.key", "hospital-a.pub.json"]


def test_existing_key_is_not_overwritten(identity: Identity, saved: tuple[Path, Path]) -> None:
    key_path = saved[0]
    before = key_path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        save_identity(new_identity("hospital-a"), key_path.parent)
    assert key_path.read_bytes() == before
    assert len(list(key_path.parent.iterdir())) == 2


def test_overwrite_replaces_key(saved: tuple[Path, Path]) -> None:
    fresh = new_identity("hospital-a")
    key_path, pub_path = save_identity(fresh, saved[0].parent, overwrite=True)
    assert load_identity(key_path).key_id == fresh.key_id
    assert load_public(pub_path).key_id == fresh.key_id
    assert _mode(key_path) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_permissions_too_open(saved: tuple[Path, Path], mode: int) -> None:
    key_path = saved[0]
    key_path.chmod(mode)
    with pytest.raises(KeyFileError, match=rf"\.key: permissions 0{mode:o} are too open"):
        load_identity(key_path)


def test_owner_read_only_is_accepted(saved: tuple[Path, Path]) -> None:
    saved[0].chmod(0o400)
    assert load_identity(saved[0]).org == "hospital-a"


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"nope\.key: no such key file"):
        load_identity(tmp_path / "nope.key")
    with pytest.raises(KeyFileError, match=r"nope\.pub\.json: no such public"):
        load_public(tmp_path / "nope.pub.json")


def test_directory_is_not_a_key_file(tmp_path: Path) -> None:
    folder = tmp_path / "dir.key"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match=r"dir\.key: not a regular file"):
        load_identity(folder)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xffgarbage", "not UTF-8"),
        (b"garbage", "invalid JSON"),
        (b'{"format": "accord-key/1", "org": "a"', "invalid JSON"),
        (b"[1, 2]", "holds a JSON list"),
        (b'{"format": "accord-key/1"}', "field 'org' is missing"),
    ],
)
def test_malformed_key_file_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match=rf"bad\.key: .*{message}"):
        load_identity(path)


def _pem(key: rsa.RSAPrivateKey | x25519.X25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_bare_pem_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bare.key"
    path.write_text(_pem(x25519.X25519PrivateKey.generate()))
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match=r"bare\.key: is a bare PEM file"):
        load_identity(path)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (x25519.X25519PrivateKey.generate, "X25519"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RSA"),
    ],
)
def test_wrong_key_type_is_refused(saved: tuple[Path, Path], make: object, kind: str) -> None:
    key_path = saved[0]
    document = json.loads(key_path.read_text())
    document["private_key_pem"] = _pem(make())  # type: ignore[operator]
    _rewrite(key_path, document)
    with pytest.raises(KeyFileError, match=rf"hospital-a\.key: .*holds an {kind} key"):
        load_identity(key_path)


def test_damaged_pem_is_refused(saved: tuple[Path, Path]) -> None:
    document = json.loads(saved[0].read_text())
    document["private_key_pem"] = document["private_key_pem"][:60]
    _rewrite(saved[0], document)
    with pytest.raises(KeyFileError, match="field 'private_key_pem' is not a readable PEM"):
        load_identity(saved[0])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("format", "accord-key/99", "field 'format'"),
        ("org", "Not Valid", "field 'org'"),
        ("key_id", "0" * 16, "do not match the private key"),
    ],
)
def test_inconsistent_fields_are_refused(
    saved: tuple[Path, Path], field: str, value: str, message: str
) -> None:
    document = json.loads(saved[0].read_text())
    document[field] = value
    _rewrite(saved[0], document)
    with pytest.raises(KeyFileError, match=message):
        load_identity(saved[0])


def test_encrypted_key_round_trip(
    identity: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    key_path, _ = save_identity(identity, tmp_path)
    assert "ENCRYPTED PRIVATE KEY" in key_path.read_text()
    assert load_identity(key_path).key_id == identity.key_id
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    with pytest.raises(KeyFileError, match=r"hospital-a\.key: .*wrong passphrase"):
        load_identity(key_path)
    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(KeyFileError, match=f"encrypted; set {PASSPHRASE_ENV}"):
        load_identity(key_path)
    assert load_identity(key_path, passphrase=b"correct horse").org == "hospital-a"


def test_passphrase_ignored_for_unencrypted_key(
    saved: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "set later")
    assert load_identity(saved[0]).org == "hospital-a"


def test_private_key_never_in_public_file(saved: tuple[Path, Path]) -> None:
    assert "PRIVATE" not in saved[1].read_text()


def test_load_public_refuses_a_private_key_file(saved: tuple[Path, Path]) -> None:
    with pytest.raises(KeyFileError, match="is a private key file"):
        load_public(saved[0])


def test_load_public_names_file_and_field(saved: tuple[Path, Path]) -> None:
    pub_path = saved[1]
    document = json.loads(pub_path.read_text())
    document["key_id"] = "f" * 16
    pub_path.write_text(json.dumps(document))
    with pytest.raises(KeyFileError, match=r"hospital-a\.pub\.json: field 'key_id'"):
        load_public(pub_path)
    pub_path.write_text('{"org": "a", ')
    with pytest.raises(KeyFileError, match=r"hospital-a\.pub\.json: invalid JSON"):
        load_public(pub_path)


def test_unwritable_folder_is_a_key_file_error(identity: Identity, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(KeyFileError, match="is not a folder"):
        save_identity(identity, blocker)


def test_key_created_owner_only_under_permissive_umask(identity: Identity, tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        key_path, pub_path = save_identity(identity, tmp_path)
    finally:
        os.umask(old)
    assert _mode(key_path) == 0o600 and _mode(pub_path) == 0o644


def test_publish_never_clobbers_a_key_that_appears_meanwhile(tmp_path: Path) -> None:
    from accord.crypto._keyfile import _write_atomic

    target = tmp_path / "race.key"
    target.write_bytes(b"written by another process")
    with pytest.raises(KeyFileError, match="already exists"):
        _write_atomic(target, b"new", 0o600, overwrite=False)
    assert target.read_bytes() == b"written by another process"
    assert [p.name for p in tmp_path.iterdir()] == ["race.key"]
