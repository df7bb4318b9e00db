"""Large payloads move as chunked, digest-checked blobs, never whole in memory."""

from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from accord.core.errors import TransportError
from accord.fl.hub import Hub
from accord.fl.messages import Reply, Task
from accord.fl.net import QueueTransport, SiteClient, TaskQueue
from accord.fl.net.chunks import BlobRef, BlobStore
from accord.fl.strategies import SiteInfo
from accord.fl.transport import InMemoryTransport
from tests.fl.net.conftest import Serve, running_sites

MiB = 1 << 20
PAYLOAD = 20 * MiB


class Echo:
    """Answers with the task's own payload (the same bytes object: no copy at the site)."""

    def handle(self, task: Task) -> Reply:
        return Reply(task_id=task.task_id, site=task.site, kind=task.kind, payload=task.payload)


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for _ in range(size // MiB):
            piece = os.urandom(MiB)
            digest.update(piece)
            handle.write(piece)
    return digest.hexdigest()


def _peak_over(base: int) -> int:
    return tracemalloc.get_traced_memory()[1] - base


def test_a_20_mb_blob_moves_in_chunks_with_flat_memory(
    tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    url = serve()
    source = tmp_path / "reply.json"
    expected = _random_file(source, PAYLOAD)
    stop = threading.Event()
    with SiteClient(
        url, Echo(), ssl_context=None, site="a", spool_dir=tmp_path / "spool", chunk_bytes=MiB
    ) as client:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            ref = client.upload_blob("t1", source, stop)
            assert ref is not None
            upload_peak = _peak_over(base)
            tracemalloc.reset_peak()
            client.fetch_blob(ref, tmp_path / "back.json", stop)
            download_peak = _peak_over(base)
        finally:
            tracemalloc.stop()
    assert ref.blob == expected and ref.size == PAYLOAD
    assert queue.blobs.path(expected).stat().st_size == PAYLOAD
    assert (tmp_path / "back.json").read_bytes() == source.read_bytes()
    # client and hub (both in this process) hold a few 1 MiB chunks, never the blob
    # (measured: about 6 MiB up and 4 MiB down, the same for 3, 20 or 40 MB)
    assert upload_peak < 8 * MiB, upload_peak / MiB
    assert download_peak < 8 * MiB, download_peak / MiB


def test_a_20_mb_task_and_reply_round_trip_through_the_hub(
    tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    """Both directions go as blobs; the whole exchange (hub, app and site in this one
    process) peaks lower than the in-memory transport, which serialises the same messages."""
    x = np.random.default_rng(0).random(PAYLOAD // 8)
    url = serve()
    hub = Hub(QueueTransport(queue), [SiteInfo("a", 1)], timeout_s=60.0)
    in_memory = Hub(InMemoryTransport({"a": Echo()}), [SiteInfo("a", 1)])
    with running_sites(url, {"a": Echo()}, tmp_path / "spool", chunk_bytes=MiB):
        hub.broadcast("stats", 0, arrays={"x": x[:10]})  # warm up: imports, connections
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            replies = hub.broadcast("stats", 1, arrays={"x": x})
            network_peak = _peak_over(base)
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            in_memory.broadcast("stats", 1, arrays={"x": x})
            in_memory_peak = _peak_over(base)
        finally:
            tracemalloc.stop()
    np.testing.assert_array_equal(replies["a"].arrays["x"], x)
    committed = [p for p in queue.blobs.folder.iterdir() if p.is_file()]
    assert len(committed) == 2  # the task and the reply each went as a blob
    assert network_peak < in_memory_peak, (network_peak / MiB, in_memory_peak / MiB)
    assert network_peak < 7 * PAYLOAD  # mostly Task/Reply.from_wire: see the report


def test_a_commit_with_missing_chunks_or_a_wrong_digest_is_refused(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = b"abcdef"
    digest = hashlib.sha256(data).hexdigest()
    store.write_chunk("a", digest, 0, data[:3])
    with pytest.raises(TransportError, match="1 of 2 chunks missing"):
        store.commit("a", digest, 6, 2)
    store.write_chunk("b", digest, 1, data[3:])  # another site's chunk does not count
    with pytest.raises(TransportError, match="1 of 2 chunks missing"):
        store.commit("a", digest, 6, 2)
    store.write_chunk("a", digest, 1, b"XYZ")
    with pytest.raises(TransportError, match="field 'digest'"):
        store.commit("a", digest, 6, 2)
    assert not store.has(digest)
    store.write_chunk("a", digest, 0, data[:3])
    store.write_chunk("a", digest, 1, data[3:])
    store.commit("a", digest, 6, 2)
    assert store.read(digest, 2, 3) == b"cde"


def test_a_reference_names_the_bad_field() -> None:
    with pytest.raises(TransportError, match="field 'blob'"):
        BlobRef.from_wire(b'{"task_id": "t", "blob": "xyz", "size": 3}')
