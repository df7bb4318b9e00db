"""The mask generator: HKDF-SHA256(seed, info) keys AES-256-CTR, whose keystream is read
as little-endian uint32.

:func:`expand` returns a fresh array. :class:`MaskAccumulator` adds or subtracts many
streams into one uint32 vector (wrapping modulo 2^32) through a reused scratch buffer,
which avoids allocating (and page-faulting) 4 bytes per coordinate for every mask; it is
what the client and the hub use. The ``info`` string binds each stream to its (plan,
round, sites) context, so one seed never yields the same stream in two contexts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.core import ConfigError

__all__ = ["MaskAccumulator", "expand"]

_SALT = b"accord/secagg/prg/v1"
_KEY_BYTES = 32
_BLOCK = 16
_WORD = 4


def _keystream_into(seed: bytes, info: bytes, zeros: bytes, out: bytearray) -> None:
    """Write ``len(zeros)`` keystream bytes for (seed, info) into the start of ``out``."""
    key = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=_SALT, info=info).derive(seed)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(_BLOCK))).encryptor()
    encryptor.update_into(zeros, out)


def _check_length(length: int) -> None:
    if not isinstance(length, int) or length < 1:
        raise ConfigError(f"prg: length must be a positive integer, not {length!r}")


def expand(seed: bytes, length: int, info: bytes) -> npt.NDArray[np.uint32]:
    """``length`` pseudo-random uint32 from ``seed`` in the context ``info``."""
    _check_length(length)
    out = bytearray(_WORD * length + _BLOCK - 1)
    _keystream_into(seed, info, bytes(_WORD * length), out)
    return np.frombuffer(out, dtype="<u4", count=length).astype(np.uint32, copy=False)


class MaskAccumulator:
    """A uint32 vector of ``length`` that masks are added to or subtracted from, mod 2^32."""

    def __init__(self, length: int, start: npt.NDArray[np.uint32] | None = None) -> None:
        _check_length(length)
        self._zeros = bytes(_WORD * length)
        self._scratch = bytearray(_WORD * length + _BLOCK - 1)
        self._view = np.frombuffer(self._scratch, dtype="<u4", count=length)
        self.total = np.zeros(length, np.uint32) if start is None else start.astype(np.uint32)

    def add(self, seed: bytes, info: bytes, sign: int = 1) -> None:
        """``total += sign * expand(seed, length, info)`` with ``sign`` in {+1, -1}."""
        _keystream_into(seed, info, self._zeros, self._scratch)
        if sign > 0:
            np.add(self.total, self._view, out=self.total)
        else:
            np.subtract(self.total, self._view, out=self.total)
