"""The mask generator: deterministic per (seed, info), distinct across contexts."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.core import ConfigError
from accord.crypto.secagg._masks import pair_info, self_info
from accord.crypto.secagg._prg import MaskAccumulator, expand

SEED = bytes(range(32))


def test_matches_hkdf_then_aes_ctr_little_endian() -> None:
    key = HKDF(hashes.SHA256(), 32, salt=b"accord/secagg/prg/v1", info=b"ctx").derive(SEED)
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(80))
    expected = np.frombuffer(stream, dtype="<u8")
    out = expand(SEED, 10, b"ctx")
    assert out.dtype == np.uint64 and out.shape == (10,)
    assert np.array_equal(out, expected)


def test_prefix_stable_and_info_separates() -> None:
    long, short = expand(SEED, 1000, b"a"), expand(SEED, 10, b"a")
    assert np.array_equal(long[:10], short)
    assert not np.array_equal(expand(SEED, 10, b"b"), short)


def test_masks_never_repeat_across_rounds_or_plans() -> None:
    """Same seed, different (plan, round): different streams, for self and pair masks."""
    infos = [
        self_info("plan-a", 0, "site-00"),
        self_info("plan-a", 1, "site-00"),
        self_info("plan-b", 0, "site-00"),
        pair_info("plan-a", 0, "site-00", "site-01"),
        pair_info("plan-a", 1, "site-00", "site-01"),
        pair_info("plan-b", 0, "site-00", "site-01"),
    ]
    streams = {expand(SEED, 64, info).tobytes() for info in infos}
    assert len(streams) == len(infos)
    assert pair_info("p", 3, "x", "y") == pair_info("p", 3, "y", "x")


def test_accumulator_adds_and_subtracts_mod_2_pow_64() -> None:
    start = np.full(100, 2**64 - 1, np.uint64)
    acc = MaskAccumulator(100, start)
    acc.add(SEED, b"a")
    acc.add(b"\x01" * 32, b"b", -1)
    expected = start + expand(SEED, 100, b"a") - expand(b"\x01" * 32, 100, b"b")
    assert np.array_equal(acc.total, expected)
    assert start[0] == 2**64 - 1  # the caller's array is not modified


def test_accumulator_chunks_continue_one_keystream() -> None:
    """Longer than one chunk (2^16 words): the same stream as :func:`expand`."""
    length = 3 * 2**16 + 5
    acc = MaskAccumulator(length)
    acc.add(SEED, b"long")
    acc.add(b"\x02" * 32, b"other", -1)
    expected = expand(SEED, length, b"long") - expand(b"\x02" * 32, length, b"other")
    assert np.array_equal(acc.total, expected)


def test_bad_length() -> None:
    with pytest.raises(ConfigError, match="positive integer"):
        expand(SEED, 0, b"")


def test_two_million_words_accumulate_as_the_sum_of_expansions() -> None:
    """One masked coordinate is two 64-bit words: a 1M-parameter update's mask (its speed
    is measured in bench/kernels.py)."""
    acc = MaskAccumulator(2_000_000)
    acc.add(SEED, b"x")
    acc.add(SEED, b"y")
    expected = expand(SEED, 2_000_000, b"x") + expand(SEED, 2_000_000, b"y")
    assert np.array_equal(acc.total, expected)
