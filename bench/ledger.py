"""Ledger benchmark: durable signed appends/s, offline verification entries/s, proofs/s.

    python bench/ledger.py [--sizes 10000,100000,1000000] [--out FILE]

For each size N the hub's log is grown to N entries by signed, verified, durable appends
(batches of 100 entries per commit, SQLite WAL with synchronous=FULL); a fresh process then
verifies the whole log offline (signatures, chain, keys, Merkle root, checkpoints) and
reports its peak RSS, to show memory stays flat in the log's size; then inclusion and
consistency proofs are generated and checked. pymerkle's SqliteTree (GPL, benchmark only)
is measured in the same run on the same leaf data and the ratio printed. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from accord.crypto import new_identity
from accord.ledger import HubLedger, SQLiteLedgerStore, genesis_payload
from accord.ledger._merkle import verify_consistency, verify_inclusion

BATCH = 100
PROOFS = 2000
PYMERKLE_LIMIT = 100_000  # pymerkle appends ~5x slower: measured up to this size


def grow(ledger: HubLedger, authors: list[Any], target: int) -> float:
    """Append signed entries until the log holds ``target``; returns appends per second."""
    start, n0 = time.perf_counter(), ledger.store.size()
    while ledger.store.size() < target:
        size = ledger.store.size()
        items = [
            (
                "task.completed",
                {
                    "plan": "plan-bench",
                    "task": f"task-{size + i}",
                    "output_hash": f"{size + i:064x}",
                    "n_train": 120,
                },
            )
            for i in range(min(BATCH, target - size))
        ]
        ledger.record_batch(authors[(size // BATCH) % len(authors)], items)
    return (ledger.store.size() - n0) / (time.perf_counter() - start)


def verify_in_subprocess(path: Path) -> dict[str, float]:
    """Offline verification in a fresh process: entries/s and its peak RSS.

    Peak RSS is the child's own VmHWM (/proc/self/status), which starts afresh at exec;
    ``ru_maxrss`` would also count the pages the child shared with this (large) process
    between fork and exec.
    """
    code = (
        "import json,sys,time;from pathlib import Path;"
        "from accord.ledger import open_source, verify_log;"
        "s=open_source(Path(sys.argv[1]));t=time.perf_counter();"
        "r=verify_log(s.entries(),s.checkpoints,s.cosignatures);dt=time.perf_counter()-t;"
        "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
        "print(json.dumps({'ok':r.ok,'size':r.size,'seconds':dt,'hwm_kib':int(hwm)}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, check=True
    ).stdout
    result = json.loads(out)
    if not result["ok"]:
        raise SystemExit("verification failed")
    return {
        "verify_entries_per_s": round(result["size"] / result["seconds"]),
        "verify_peak_rss_mib": round(result["hwm_kib"] / 1024, 1),
    }


def proofs(store: SQLiteLedgerStore, rng: random.Random) -> dict[str, float]:
    size, root = store.size(), store.root()
    start = time.perf_counter()
    for _ in range(PROOFS):
        seq = rng.randrange(size)
        leaf = next(iter(store.read(seq, seq + 1))).leaf
        if not verify_inclusion(leaf, seq, size, store.inclusion_proof(seq, size), root):
            raise SystemExit("inclusion proof failed")
    inclusion = PROOFS / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(PROOFS):
        old = rng.randrange(1, size)
        proof = store.consistency_proof(old, size)
        if not verify_consistency(old, size, store.root(old), root, proof):
            raise SystemExit("consistency proof failed")
    consistency = PROOFS / (time.perf_counter() - start)
    return {
        "inclusion_proofs_per_s": round(inclusion),
        "consistency_proofs_per_s": round(consistency),
    }


def store_appends(store: SQLiteLedgerStore, folder: Path) -> float:
    """The storage and Merkle part alone (already-signed entries), as pymerkle measures it."""
    entries = list(store.read())
    copy = SQLiteLedgerStore(folder / "copy.sqlite")
    start = time.perf_counter()
    for i in range(0, len(entries), BATCH):
        copy.append(entries[i : i + BATCH])
    rate = len(entries) / (time.perf_counter() - start)
    copy.close()
    return rate


def pymerkle_reference(
    store: SQLiteLedgerStore, folder: Path, rng: random.Random
) -> dict[str, float]:
    from pymerkle import SqliteTree
    from pymerkle import verify_inclusion as pm_verify_inclusion

    data = [e.entry + e.signature for e in store.read()]
    tree = SqliteTree(str(folder / "pymerkle.db"))
    start = time.perf_counter()
    for i in range(0, len(data), BATCH):
        tree.append_entries(data[i : i + BATCH])
    appends = len(data) / (time.perf_counter() - start)
    size, root = tree.get_size(), tree.get_root()
    if root != store.root():
        raise SystemExit("pymerkle root differs from ours")
    start = time.perf_counter()
    for _ in range(PROOFS):
        index = rng.randrange(size)
        proof = tree.prove_inclusion(index + 1, size)
        pm_verify_inclusion(tree.get_leaf(index + 1), root, proof)
    inclusion = PROOFS / (time.perf_counter() - start)
    tree.close()
    return {"appends_per_s": round(appends), "inclusion_proofs_per_s": round(inclusion)}


def compare_with_pymerkle(
    store: SQLiteLedgerStore, folder: Path, rng: random.Random, ours: dict[str, Any]
) -> dict[str, Any]:
    folder.mkdir()
    rate = store_appends(store, folder)
    ref = pymerkle_reference(store, folder, rng)
    return {
        "store_appends_per_s": round(rate),
        "pymerkle": ref,
        "ratio_store_appends_vs_pymerkle": round(rate / ref["appends_per_s"], 2),
        "ratio_inclusion_vs_pymerkle": round(
            ours["inclusion_proofs_per_s"] / ref["inclusion_proofs_per_s"], 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(0)
    results: dict[str, Any] = {"benchmark": "ledger", "batch": BATCH, "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hub, sites = new_identity("hub"), [new_identity(f"site_{i}") for i in range(4)]
        orgs = [i.public.to_dict() for i in (hub, *sites)]
        store = SQLiteLedgerStore(folder / "ledger.sqlite")
        ledger = HubLedger.create(store, hub, "log-bench", genesis_payload("bench", "hub", orgs))
        for size in sizes:
            figures: dict[str, Any] = {"appends_per_s": round(grow(ledger, [hub, *sites], size))}
            ledger.checkpoint()
            wal = folder / "ledger.sqlite-wal"
            figures["wal_mib"] = round(wal.stat().st_size / 2**20, 1) if wal.exists() else 0.0
            figures |= verify_in_subprocess(folder / "ledger.sqlite")
            figures |= proofs(store, rng)
            if size <= PYMERKLE_LIMIT:
                figures |= compare_with_pymerkle(store, folder / f"ref{size}", rng, figures)
            results["sizes"][str(size)] = figures
            print(json.dumps({str(size): figures}), file=sys.stderr, flush=True)
        store.close()
    by_size = results["sizes"].values()
    results["targets"] = {
        "appends_ge_2000_per_s": all(f["appends_per_s"] >= 2000 for f in by_size),
        "verify_ge_10000_per_s": all(f["verify_entries_per_s"] >= 10_000 for f in by_size),
        "verify_rss_flat": max(f["verify_peak_rss_mib"] for f in by_size)
        <= 1.25 * min(f["verify_peak_rss_mib"] for f in by_size),
    }
    line = json.dumps(results)
    print(line)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")


if __name__ == "__main__":
    main()
