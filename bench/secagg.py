"""Secure-aggregation benchmark: client masking, hub unmasking, bytes, vs plain sum and Flower.

    python bench/secagg.py [--out FILE] [--sizes 10,40,100] [--length 1000000]
                           [--dropouts 0,0.1,0.3] [--no-flower]

For n sites (one process) each holding a 1M-parameter update with values in [-1, 1]
(float32 range), one secure-aggregation round runs at each dropout rate; dropped sites
do their masking work but their masked vector never reaches the hub (so the hub must
rebuild their pairwise masks) and they neither sign the survivor list nor send an unmask
reply. Dropped sites are spread evenly over the SecAgg+ ring, so every neighbourhood
loses about the same share. Graph: complete for n < 40, else SecAgg+ (Bell et al. 2020)
with k = 2·log2(n) rounded to an even number; threshold t = the sites' floor,
ceil(2/3 of the k + 1 share holders).

Measured per size and dropout rate:
  client_s      share_keys + masked_input, per site (mean and max)
  hub_s         finalize (unmasking); hub_total_s adds routing and collection
  bytes_ratio   bytes a site sends (advertisement, sealed shares, masked vector of two
                uint64 words per value, signature over the survivor list, unmask reply)
                / a plain float32 update
  round_s       slowest site's work (advertise, share, mask, sign, unmask) + the hub's
                work; round_vs_plain divides by a plain weighted FedAvg sum of the same
                updates
Flower's SecAgg+ (flwr, if importable) runs its client stages (_share_keys +
_collect_masked_vectors of ``secaggplus_mod``) and the arithmetic of its server
``unmask_stage`` on the same sizes, neighbourhoods and dropouts; without flwr the line
says ``"flower": null`` and why. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core import AggregationError
from accord.crypto import new_identity
from accord.crypto.secagg import (
    Quantizer,
    SecAggClient,
    SecAggConfig,
    SecAggServer,
    pack_bytes_map,
    threshold_floor,
)
from accord.crypto.secagg._graph import ring_order

SEED = b"bench-graph-seed"
FLOWER_MOD = "flwr.client.mod.secure_aggregation.secaggplus_mod"
Updates = dict[str, npt.NDArray[np.float32]]


def neighbourhood(n: int) -> tuple[int | None, int]:
    """(k, threshold): complete graph below 40 sites, else k = 2·log2(n) rounded to even;
    the threshold is the least the sites accept."""
    k = None if n < 40 else 2 * round(math.log2(n))
    return k, threshold_floor(n, k)


def make_updates(sites: Sequence[str], length: int) -> Updates:
    rng = np.random.default_rng(20240601)  # benchmark data, not a secret
    return {s: rng.uniform(-1.0, 1.0, length).astype(np.float32) for s in sites}


def spread(order: Sequence[Any], fraction: float) -> set[Any]:
    """``round(fraction · n)`` sites evenly spaced along ``order``."""
    count = round(fraction * len(order))
    return {order[math.floor(i * len(order) / count)] for i in range(count)} if count else set()


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def plain_sum(updates: Updates) -> float:
    """Seconds for a weighted FedAvg sum of the float32 updates (equal weights)."""
    start = time.perf_counter()
    total = np.zeros(next(iter(updates.values())).shape, np.float64)
    for update in updates.values():
        total += update
    total /= len(updates)
    return time.perf_counter() - start


class AccordRound:
    """One accord secure-aggregation round with per-site timings and bytes."""

    def __init__(self, updates: Updates, k: int | None, t: int, dropped: set[str]) -> None:
        sites = tuple(updates)
        self.updates, self.dropped = updates, dropped
        self.config = SecAggConfig(
            plan="bench", round=0, sites=sites, threshold=t,
            vector_length=len(next(iter(updates.values()))),
            quantizer=Quantizer(clip=1.0, n_summands=len(sites)), k=k, graph_seed=SEED,
        )  # fmt: skip
        ids = {s: new_identity(s) for s in sites}
        self.keys = {s: ids[s].public.public_key for s in sites}
        self.clients = {s: SecAggClient(self.config, s, ids[s]) for s in sites}
        self.server = SecAggServer(self.config)
        self.site_s = dict.fromkeys(sites, 0.0)
        self.client_s = dict.fromkeys(sites, 0.0)
        self.sent = dict.fromkeys(sites, 0)
        self.hub_s = 0.0

    def _site(self, site: str, fn: Callable[[], Any], core: bool = False) -> Any:
        out, seconds = timed(fn)
        self.site_s[site] += seconds
        if core:
            self.client_s[site] += seconds
        return out

    def _hub(self, fn: Callable[[], Any]) -> Any:
        out, seconds = timed(fn)
        self.hub_s += seconds
        return out

    def run(self) -> npt.NDArray[np.float64]:
        adverts = {s: self._site(s, c.advertise) for s, c in self.clients.items()}
        forwarded = self._hub(lambda: self.server.collect_adverts(adverts))
        outgoing = {}
        for s, c in self.clients.items():
            outgoing[s] = self._site(
                s, lambda c=c: c.share_keys(forwarded, self.keys.__getitem__), True
            )
            self.sent[s] += len(adverts[s].to_bytes()) + len(pack_bytes_map(outgoing[s]))
        routed = self._hub(lambda: self.server.route_shares(outgoing))
        masked = {}
        for s, c in self.clients.items():
            vector = self.updates[s]
            masked[s] = self._site(s, lambda c=c, v=vector, s=s: c.masked_input(v, routed[s]), True)
            self.sent[s] += masked[s].nbytes
        arrived = {s: v for s, v in masked.items() if s not in self.dropped}
        self._hub(lambda: self.server.collect_masked(arrived))
        listed = self._hub(self.server.survivor_list)
        signatures = {}
        for s in listed.survivors:
            signatures[s] = self._site(s, lambda s=s: self.clients[s].consistency(listed))
            self.sent[s] += len(signatures[s])
        request = self._hub(lambda: self.server.collect_signatures(signatures))
        replies = {}
        key_of = self.keys.__getitem__
        for s in request.signatures:
            replies[s] = self._site(
                s,
                lambda s=s, k=key_of: self.clients[s].unmask(request, k),
            )
            self.sent[s] += len(pack_bytes_map(replies[s]))
        total, self.finalize_s = timed(lambda: self.server.finalize(replies))
        self.hub_s += self.finalize_s
        return total  # type: ignore[no-any-return]


def run_accord(updates: Updates, fraction: float) -> dict[str, Any]:
    n, length = len(updates), len(next(iter(updates.values())))
    k, t = neighbourhood(n)
    dropped = spread(ring_order(tuple(updates), SEED), fraction)
    bench = AccordRound(updates, k, t, dropped)
    row: dict[str, Any] = {
        "n": n,
        "dropout": fraction,
        "dropped": len(dropped),
        "k": k,
        "threshold": t,
    }
    try:
        total = bench.run()
    except AggregationError as exc:  # too few holders of some site are left: data, not a crash
        return {**row, "aborted": str(exc)}
    survivors = [s for s in updates if s not in dropped]
    plain = sum(updates[s].astype(np.float64) for s in survivors)  # float64 rounding ≤ n²ε
    error = float(np.abs(total - plain).max())
    client = list(bench.client_s.values())
    round_s = max(bench.site_s.values()) + bench.hub_s
    return {
        **row,
        "client_s_mean": round(sum(client) / n, 4), "client_s_max": round(max(client), 4),
        "hub_s": round(bench.finalize_s, 4), "hub_total_s": round(bench.hub_s, 4),
        "bytes_ratio": round(max(bench.sent.values()) / (4 * length), 5),
        "round_s": round(round_s, 4),
        "max_abs_error": error,
        "error_bound": bench.config.quantizer.error_bound(n) + n * n * 2.0**-53,
    }  # fmt: skip


def flower_or_reason() -> tuple[Any, str | None]:
    """(the Flower runner, flwr's version) or (None, why not)."""
    try:
        import flwr  # type: ignore[import-not-found]

        importlib.import_module(FLOWER_MOD)
    except ImportError as exc:
        return None, f"flwr not importable ({exc}); install flwr==1.42.0 to compare"
    return FlowerRound, str(flwr.__version__)


class FlowerRound:
    """Flower 1.42's SecAgg+: its client stages and its server unmask arithmetic.

    The client functions are called as ``secaggplus_mod`` calls them; the hub side
    repeats ``SecAggPlusWorkflow.collect_masked_vectors_stage`` and ``unmask_stage``
    minus the messaging (Grid) layer. Neighbourhoods: ``num_shares`` consecutive nodes
    on a ring (Flower's construction), the same size as accord's holders.
    """

    def __init__(self, updates: list[npt.NDArray[np.float32]], num_shares: int, t: int) -> None:
        from flwr.common.secure_aggregation.secaggplus_constants import Key

        mod = importlib.import_module(FLOWER_MOD)  # the package re-exports a same-named function
        self.mod, self.key, self.updates = mod, Key, updates
        n = len(updates)
        self.nids = list(range(1, n + 1))
        half = num_shares >> 1
        self.neighbours = {
            nid: {self.nids[(i + o) % n] for o in range(-half, half + 1)}
            for i, nid in enumerate(self.nids)
        }
        self.t, self.clip, self.q_range, self.mod_range = t, 1.0, 2**22, 2**32
        self.cfg = {
            Key.SAMPLE_NUMBER: n, Key.SHARE_NUMBER: num_shares, Key.THRESHOLD: t,
            Key.CLIPPING_RANGE: self.clip, Key.TARGET_RANGE: self.q_range,
            Key.MOD_RANGE: self.mod_range, Key.MAX_WEIGHT: 1.0,
        }  # fmt: skip
        self.states = {nid: mod.SecAggPlusState(nid=nid) for nid in self.nids}
        self.client_s = dict.fromkeys(self.nids, 0.0)
        self.hub_s = 0.0

    def _clients(self, dead: set[int]) -> dict[int, list[bytes]]:
        from flwr.common import ndarrays_to_parameters

        mod, Key = self.mod, self.key
        keys = {nid: mod._setup(self.states[nid], self.cfg) for nid in self.nids}
        pks = {nid: (k[Key.PUBLIC_KEY_1], k[Key.PUBLIC_KEY_2]) for nid, k in keys.items()}
        fwd: dict[int, tuple[list[bytes], list[int]]] = {nid: ([], []) for nid in self.nids}
        for nid in self.nids:
            cfg = {str(j): pks[j] for j in self.neighbours[nid]}
            res, seconds = timed(lambda nid=nid, cfg=cfg: mod._share_keys(self.states[nid], cfg))
            self.client_s[nid] += seconds
            for dst, ct in zip(res[Key.DESTINATION_LIST], res[Key.CIPHERTEXT_LIST], strict=True):
                fwd[dst][0].append(ct)
                fwd[dst][1].append(nid)
        masked = {}
        for nid, update in zip(self.nids, self.updates, strict=True):
            cfg = {Key.CIPHERTEXT_LIST: fwd[nid][0], Key.SOURCE_LIST: fwd[nid][1]}
            params = ndarrays_to_parameters([update])
            res, seconds = timed(
                lambda nid=nid, cfg=cfg, p=params: mod._collect_masked_vectors(
                    self.states[nid], cfg, 1, p
                )
            )
            self.client_s[nid] += seconds
            masked[nid] = res[Key.MASKED_PARAMETERS]
        return {nid: m for nid, m in masked.items() if nid not in dead}

    def _collect(self, masked: dict[int, list[bytes]]) -> list[Any]:
        from flwr.common import bytes_to_ndarray
        from flwr.common.secure_aggregation.ndarrays_arithmetic import (
            parameters_addition,
            parameters_mod,
        )

        total = None
        for blobs in masked.values():
            vec = [bytes_to_ndarray(b) for b in blobs]
            total = vec if total is None else parameters_addition(total, vec)
        return parameters_mod(total, self.mod_range)  # type: ignore[arg-type]

    def _unmask(self, total: list[Any], active: set[int], shares: dict[int, list[bytes]]) -> Any:
        from flwr.common.secure_aggregation.crypto.shamir import combine_shares
        from flwr.common.secure_aggregation.crypto.symmetric_encryption import (
            generate_shared_key,
        )
        from flwr.common.secure_aggregation.ndarrays_arithmetic import (
            get_parameters_shape,
            parameters_addition,
            parameters_subtraction,
        )
        from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
        from flwr.supercore.primitives.asymmetric import bytes_to_private_key, bytes_to_public_key

        shape = get_parameters_shape(total)
        for nid, share_list in shares.items():
            if len(share_list) < self.t:
                raise RuntimeError(f"flower: not enough shares for node {nid}")
            secret = combine_shares(share_list)
            if nid in active:
                mask = pseudo_rand_gen(secret, self.mod_range, shape)
                total = parameters_subtraction(total, mask)
                continue
            for other in self.neighbours[nid] - {nid}:
                pk1 = self.states[other].pk1
                shared = generate_shared_key(bytes_to_private_key(secret), bytes_to_public_key(pk1))
                mask = pseudo_rand_gen(shared, self.mod_range, shape)
                op = parameters_addition if nid > other else parameters_subtraction
                total = op(total, mask)
        return total

    def _finish(self, total: list[Any], n_active: int) -> Any:
        from flwr.common.secure_aggregation.ndarrays_arithmetic import (
            factor_extract,
            parameters_mod,
        )
        from flwr.common.secure_aggregation.quantization import dequantize

        q_total_ratio, params = factor_extract(parameters_mod(total, self.mod_range))
        vec = dequantize(params, self.clip, self.q_range)[0]
        return (vec - (n_active - 1) * self.clip) * (self.q_range / q_total_ratio)

    def run(self, dead: set[int]) -> npt.NDArray[np.float64]:
        Key = self.key
        masked = self._clients(dead)
        active = set(masked)
        total, self.collect_s = timed(lambda: self._collect(masked))
        shares: dict[int, list[bytes]] = {nid: [] for nid in self.nids}
        site_unmask = {}
        for nid in active:
            cfg = {
                Key.ACTIVE_NODE_ID_LIST: list(self.neighbours[nid] & active),
                Key.DEAD_NODE_ID_LIST: list(self.neighbours[nid] - active),
            }
            res, site_unmask[nid] = timed(
                lambda nid=nid, c=cfg: self.mod._unmask(self.states[nid], c)
            )
            for owner, share in zip(res[Key.NODE_ID_LIST], res[Key.SHARE_LIST], strict=True):
                shares[owner].append(share)
        total, self.unmask_s = timed(lambda: self._unmask(total, active, shares))
        out, finish_s = timed(lambda: self._finish(total, len(active)))
        self.unmask_s += finish_s
        self.hub_s = self.collect_s + self.unmask_s
        self.round_s = max(self.client_s[i] + site_unmask.get(i, 0.0) for i in self.nids)
        self.round_s += self.hub_s
        return out  # type: ignore[no-any-return]


def run_flower(updates: Updates, num_shares: int, t: int, fraction: float) -> dict[str, Any]:
    """Flower's SecAgg+ on the same updates; dropped nodes spread evenly on its ring."""
    bench = FlowerRound(list(updates.values()), num_shares, t)
    dead = spread(bench.nids, fraction)
    total = bench.run(dead)
    alive = [u for nid, u in zip(bench.nids, updates.values(), strict=True) if nid not in dead]
    plain = sum(u.astype(np.float64) for u in alive)
    error = float(np.abs(total * len(alive) - plain).max())  # Flower returns the mean
    client = list(bench.client_s.values())
    return {
        "client_s_mean": round(sum(client) / len(client), 4),
        "client_s_max": round(max(client), 4),
        "hub_s": round(bench.hub_s, 4),
        "round_s": round(bench.round_s, 4),
        "max_abs_error": error,
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="also write the JSON line to this file")
    parser.add_argument("--sizes", default="10,40,100")
    parser.add_argument("--length", type=int, default=1_000_000)
    parser.add_argument("--dropouts", default="0,0.1,0.3")
    parser.add_argument("--no-flower", action="store_true", help="skip Flower's SecAgg+")
    args = parser.parse_args(argv)
    if args.out:  # before the run, not after it: a fresh clone has no runs/bench/
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    return args


def measure(n: int, fraction: float, length: int, flower: Any) -> dict[str, Any]:
    updates = make_updates([f"site-{i:03d}" for i in range(n)], length)
    row = run_accord(updates, fraction)
    if "aborted" in row:
        return row
    row["plain_sum_s"] = round(plain_sum(updates), 5)
    row["round_vs_plain"] = round(row["round_s"] / row["plain_sum_s"], 1)
    if flower is not None:
        k, t = neighbourhood(n)
        fl = run_flower(updates, n if k is None else k + 1, t, fraction)
        fl["client_ratio"] = round(fl["client_s_mean"] / row["client_s_mean"], 1)
        fl["hub_ratio"] = round(fl["hub_s"] / row["hub_s"], 1)
        fl["round_ratio"] = round(fl["round_s"] / row["round_s"], 1)
        row["flower"] = fl
    return row


def targets(rows: list[dict[str, Any]]) -> dict[str, bool | None]:
    rows = [r for r in rows if "aborted" not in r]
    at = [r for r in rows if r["n"] == 100 and r["dropout"] == 0.1]
    with_flower = [r for r in rows if "flower" in r]
    return {
        "client_le_0.1s_at_n100_d10": at[0]["client_s_max"] <= 0.1 if at else None,
        "hub_le_1.5s_at_n100_d10": at[0]["hub_s"] <= 1.5 if at else None,
        "bytes_le_1.05x": all(r["bytes_ratio"] <= 1.05 for r in rows),
        "faster_than_flower": (
            all(r["flower"]["round_ratio"] > 1 for r in with_flower) if with_flower else None
        ),
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    flower, note = (None, "skipped (--no-flower)") if args.no_flower else flower_or_reason()
    rows = [
        measure(int(n), float(d), args.length, flower)
        for n in args.sizes.split(",")
        for d in args.dropouts.split(",")
    ]
    line = json.dumps(
        {
            "bench": "secagg",
            "length": args.length,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "results": rows,
            "targets": targets(rows),
            "flower": {"version": note} if flower is not None else None,
            "flower_reason": None if flower is not None else note,
        }
    )
    print(line)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(line + "\n")


if __name__ == "__main__":
    main()
