"""Kernel benchmark: the site's pair counting (C-index) and the secure-aggregation mask PRG.

    python bench/kernels.py [--sizes 5000,50000] [--out FILE]

``concordance``: :func:`accord.survival.concordance_counts` (O(n log n)) on a generated
cohort of each size, against ``lifelines.utils.concordance_index`` on the same rows in the
same run (ratio = lifelines' time / ours; the two C values must agree). ``prg``: one
2M-word mask (a 1M-parameter update) through :class:`MaskAccumulator` and through
:func:`expand`, against the raw AES-256-CTR keystream of the same bytes from ``cryptography``
(the floor; ratio = ours / raw). Best of 5 each. One JSON line; these speed figures were
assertions in the test suite before and belong here (a loaded CI machine is no stopwatch).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from lifelines.utils import concordance_index

from accord.crypto.secagg._prg import MaskAccumulator, expand
from accord.survival import concordance_counts, harrell_c

SEED = bytes(range(32))
WORDS = 2_000_000


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cohort(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    time_ = np.round(rng.exponential(365.0 * np.exp(-risk)), 0) + 1.0  # tied times
    censor = rng.exponential(500.0, size=n)
    return np.minimum(time_, censor), time_ <= censor, np.round(risk, 2)  # tied risks


def concordance(sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in sizes:
        t, e, r = cohort(n, seed=n)
        ours = best_of(functools.partial(concordance_counts, t, e, r))
        ref = best_of(functools.partial(concordance_index, t, -r, e), repeat=3)
        agree = bool(abs(harrell_c(t, e, r) - concordance_index(t, -r, e)) < 1e-12)
        out[str(n)] = {
            "accord_s": round(ours, 5),
            "lifelines_s": round(ref, 5),
            "ratio_lifelines_over_accord": round(ref / ours, 2),
            "same_c": agree,
        }
    return out


def prg() -> dict[str, Any]:
    acc = MaskAccumulator(WORDS)
    acc.add(SEED, b"warm-up")
    accumulate = best_of(lambda: acc.add(SEED, b"x"))
    expanded = best_of(lambda: expand(SEED, WORDS, b"x"))
    zeros = bytes(8 * WORDS)
    key = bytes(32)
    raw = best_of(
        lambda: Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(zeros)
    )
    return {
        "words": WORDS,
        "accumulate_s": round(accumulate, 5),
        "expand_s": round(expanded, 5),
        "raw_aes_ctr_s": round(raw, 5),
        "ratio_accumulate_over_raw": round(accumulate / raw, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    figures = {"concordance": concordance(sizes), "prg": prg()}
    line = json.dumps(figures)
    print(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")


if __name__ == "__main__":
    main()
