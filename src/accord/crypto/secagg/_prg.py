"""The mask generator: HKDF-SHA256(seed, info) keys AES-256-CTR, whose keystream is read
as little-endian uint64 (the ring words of :mod:`accord.crypto.secagg._quantize`).

:func:`expand` returns a fresh array. :class:`MaskAccumulator` adds or subtracts many
streams into one uint64 vector (wrapping modulo 2^64) through a small reused scratch
buffer, which avoids allocating (and page-faulting) 8 bytes per word for every mask; it is
what the client and the hub use. The ``info`` string binds each stream to its (plan,
round, sites) context, so one seed never yields the same stream in two contexts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.core import ConfigError

__all__ = ["MaskAccumulator", "expand"]

_SALT = b"accord/secagg/prg/v1"
_KEY_BYTES = 32
_BLOCK = 16
_WORD = 8
_CHUNK_WORDS = 1 << 16  # 512 KiB of keystream at a time


def _encryptor(seed: bytes, info: bytes) -> CipherContext:
    """AES-256-CTR (counter from 0) under HKDF-SHA256(seed, info)."""
    key = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=_SALT, info=info).derive(seed)
    return Cipher(algorithms.AES(key), modes.CTR(bytes(_BLOCK))).encryptor()


def _keystream_into(seed: bytes, info: bytes, zeros: bytes, out: bytearray) -> None:
    """Write ``len(zeros)`` keystream bytes for (seed, info) into the start of ``out``."""
    _encryptor(seed, info).update_into(zeros, out)


def _check_length(length: int) -> None:
    if not isinstance(length, int) or length < 1:
        raise ConfigError(f"prg: length must be a positive integer, not {length!r}")


def expand(seed: bytes, length: int, info: bytes) -> npt.NDArray[np.uint64]:
    """``length`` pseudo-random uint64 from ``seed`` in the context ``info``."""
    _check_length(length)
    out = bytearray(_WORD * length + _BLOCK - 1)
    _keystream_into(seed, info, bytes(_WORD * length), out)
    return np.frombuffer(out, dtype="<u8", count=length).astype(np.uint64, copy=False)


class MaskAccumulator:
    """A uint64 vector of ``length`` that masks are added to or subtracted from, mod 2^64.

    The keystream is made and added in chunks of :data:`_CHUNK_WORDS` words, so the
    scratch buffer stays in cache however long the vector is.
    """

    def __init__(self, length: int, start: npt.NDArray[np.uint64] | None = None) -> None:
        _check_length(length)
        chunk = min(length, _CHUNK_WORDS)
        self._zeros = bytes(_WORD * chunk)
        self._scratch = bytearray(_WORD * chunk + _BLOCK - 1)
        self._view = np.frombuffer(self._scratch, dtype="<u8", count=chunk)
        self.total = np.zeros(length, np.uint64) if start is None else start.astype(np.uint64)

    def add(self, seed: bytes, info: bytes, sign: int = 1) -> None:
        """``total += sign * expand(seed, length, info)`` with ``sign`` in {+1, -1}."""
        encryptor = _encryptor(seed, info)
        combine = np.add if sign > 0 else np.subtract
        chunk, total = self._view.size, self.total
        for start in range(0, total.size, chunk):
            part = total[start : start + chunk]
            zeros = self._zeros if part.size == chunk else self._zeros[: _WORD * part.size]
            encryptor.update_into(zeros, self._scratch)
            combine(part, self._view[: part.size], out=part)
