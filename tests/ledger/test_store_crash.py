"""Kill -9 a process in the middle of appending: the store reopens whole and consistent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accord.ledger import SQLiteLedgerStore, StoredEntry
from accord.ledger import _merkle as merkle

BATCH = 25
SRC = Path(__file__).resolve().parents[2] / "src"

WRITER = f"""
import sys
from pathlib import Path
from accord.ledger._store import SQLiteLedgerStore, StoredEntry

def entry(seq):
    return StoredEntry(seq, b"entry-%d|" % seq * 20, bytes([seq % 251]) * 64, "org", "kind", None)

store = SQLiteLedgerStore(Path(sys.argv[1]))
while True:
    size = store.size()
    store.append([entry(s) for s in range(size, size + {BATCH})])
    if size == 0:
        print("ready", flush=True)
"""


def expected_entry(seq: int) -> StoredEntry:
    return StoredEntry(seq, b"entry-%d|" % seq * 20, bytes([seq % 251]) * 64, "org", "kind", None)


def _kill_writer_mid_flight(path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.7)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _stored_tree(path: Path) -> tuple[list[bytes], dict[tuple[int, int], bytes]]:
    """Leaves (checked against entry || sig) and inner nodes, read with raw sqlite3."""
    raw = sqlite3.connect(path)
    leaves: list[bytes] = []
    for seq, leaf, entry, signature in raw.execute(
        "SELECT seq, leaf, entry, signature FROM entries ORDER BY seq"
    ):
        assert seq == len(leaves)
        assert entry == expected_entry(seq).entry and signature == expected_entry(seq).signature
        assert leaf == merkle.leaf_hash(entry + signature)
        leaves.append(leaf)
    nodes = {(lv, ix): h for lv, ix, h in raw.execute("SELECT level, idx, hash FROM nodes")}
    raw.close()
    return leaves, nodes


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_during_appends_leaves_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    _kill_writer_mid_flight(path)
    leaves, nodes = _stored_tree(path)
    size = len(leaves)
    assert size > 0 and size % BATCH == 0

    compact = merkle.CompactRange()
    expected: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        expected.update({(lv, ix): h for lv, ix, h in compact.append(leaf) if lv > 0})
    assert nodes == expected

    with SQLiteLedgerStore(path, create=False) as store:
        assert store.size() == size
        assert store.root() == compact.root()
        receipts = store.append([expected_entry(s) for s in range(size, size + 3)])
        assert receipts[0].seq == size
        compact.append(expected_entry(size).leaf)
        assert receipts[0].root == compact.root()
        assert store.root() == merkle.root_of(size + 3, store._node)
