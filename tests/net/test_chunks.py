"""Large payloads move as digest-checked blobs, stored once, never whole in memory in transit."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import threading
import tracemalloc
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest

from accord.core import TransportError
from accord.fl import Hub, InMemoryTransport, Plan
from accord.fl.strategies import SiteInfo
from accord.net import QueueTransport, Reply, SiteClient, SiteEndpoint, Task, TaskQueue
from accord.net._chunks import (
    BlobRef,
    BlobStore,
    UploadBusyError,
    UploadOffsetError,
    read_frame,
    write_frame,
)
from tests.net.conftest import Serve, running_sites

MiB = 1 << 20
PAYLOAD = 20 * MiB


class Ack:
    """Answers any task with a small reply."""

    def handle(self, task: Task) -> Reply:
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, weight=1.0)


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


def test_a_20_mb_blob_moves_in_pieces_with_flat_memory(
    tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    url = serve()
    source = tmp_path / "reply.bin"
    expected = _random_file(source, PAYLOAD)
    stop = threading.Event()
    with SiteClient(
        url, Echo(), ssl_context=None, site="a", spool_dir=tmp_path / "spool", chunk_bytes=4 * MiB
    ) as client:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            uploaded = client.upload_blob(source, stop)
            upload_peak = _peak_over(base)
            tracemalloc.reset_peak()
            assert uploaded is not None
            client.fetch_blob(uploaded[0], uploaded[1], tmp_path / "back.bin", stop)
            download_peak = _peak_over(base)
        finally:
            tracemalloc.stop()
    assert uploaded == (expected, PAYLOAD)
    assert queue.blobs.path(expected).stat().st_size == PAYLOAD
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    assert not list(queue.blobs.folder.glob("staging/*/*"))  # the staging file was renamed
    # client and hub (both in this process) hold a few pieces of about 1 MiB, never the blob
    assert upload_peak < 8 * MiB, upload_peak / MiB
    assert download_peak < 8 * MiB, download_peak / MiB


def test_an_upload_goes_on_where_it_stopped_and_a_wrong_digest_is_refused(
    tmp_path: Path,
) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = b"abcdef"
    digest = hashlib.sha256(data).hexdigest()

    def send(owner: str, offset: int, piece: bytes, name: str = digest) -> int:
        writer = store.begin_upload(owner, name, offset)
        try:
            writer.write(piece)
        finally:
            staged = writer.close()
        return staged

    assert send("a", 0, data[:3]) == 3
    with pytest.raises(TransportError, match="incomplete: 3 of 6 bytes staged"):
        store.commit("a", digest, 6)
    with pytest.raises(UploadOffsetError, match="field 'offset'"):
        send("a", 4, data[4:])  # a gap
    with pytest.raises(UploadOffsetError, match="past the 0 bytes staged"):
        send("b", 3, data[3:])  # another site's upload is its own: b cannot continue a's
    busy = store.begin_upload("a", digest, 3)
    with pytest.raises(UploadBusyError):
        store.begin_upload("a", digest, 3)  # one request at a time per upload
    busy.close()
    assert send("a", 1, data[1:]) == 6  # overlaps what is staged: only the new bytes count
    store.commit("a", digest, 6)
    assert store.read(digest, 2, 3) == b"cde"
    assert store.staged("a", digest) == 0

    wrong = hashlib.sha256(b"other").hexdigest()
    assert send("a", 0, data, name=wrong) == 6
    with pytest.raises(TransportError, match="field 'digest' does not match"):
        store.commit("a", wrong, 6)
    assert not store.has(wrong) and store.staged("a", wrong) == 0  # discarded
    assert send("a", 0, data + b"!", name=digest) == 7
    with pytest.raises(TransportError, match="field 'size' does not match"):
        store.commit("a", digest, 6)


def test_a_restarted_hub_rereads_a_staging_file(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB)
    digest = hashlib.sha256(data).hexdigest()
    first = BlobStore(tmp_path / "blobs")
    writer = first.begin_upload("a", digest, 0)
    writer.write(data[:MiB])
    writer.close()
    again = BlobStore(tmp_path / "blobs")  # the hub restarted: its hashing state is gone
    writer = again.begin_upload("a", digest, MiB)
    writer.write(data[MiB:])
    writer.close()
    again.commit("a", digest, len(data))
    assert again.read(digest) == data


class _BreaksOnce:
    """A blob file whose first reader loses the connection after ``after`` bytes."""

    broken = False

    def __init__(self, handle: IO[bytes], after: int, offsets: list[int]) -> None:
        self.handle = handle
        self.left = after
        self.offsets = offsets

    def seek(self, offset: int) -> int:
        self.offsets.append(offset)
        return self.handle.seek(offset)

    def read(self, size: int) -> bytes:
        if self.left <= 0 and not _BreaksOnce.broken:
            _BreaksOnce.broken = True
            raise ConnectionResetError("the hub's disk went away")
        piece = self.handle.read(min(size, self.left) if self.left > 0 else size)
        self.left -= len(piece)
        return piece

    def close(self) -> None:
        self.handle.close()


def test_a_broken_download_goes_on_where_it_stopped(
    tmp_path: Path, serve: Serve, queue: TaskQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(5 * MiB)
    digest, size = queue.blobs.put(data)
    queue.add_blob(digest, "a", size)
    offsets: list[int] = []
    real_open = queue.blobs.open

    def open_breaking(d: str) -> IO[bytes]:
        return _BreaksOnce(real_open(d), 2 * MiB, offsets)  # type: ignore[return-value]

    monkeypatch.setattr(queue.blobs, "open", open_breaking)
    url = serve()
    with SiteClient(url, Echo(), ssl_context=None, site="a", spool_dir=tmp_path / "s",
                    backoff_initial_s=0.01) as client:  # fmt: skip
        client.fetch_blob(digest, size, tmp_path / "got.bin", threading.Event())
    assert (tmp_path / "got.bin").read_bytes() == data
    assert len(offsets) == 2 and offsets[0] == 0  # one GET broke after some bytes ...
    assert 0 < offsets[1] <= 2 * MiB  # ... and the second asked for the rest only


def test_a_20_mb_task_and_reply_round_trip_through_the_hub(
    tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    """Both payloads go as blobs; the whole exchange (hub, app and site in this one
    process) peaks lower than the in-memory transport, which serialises the same messages."""
    x = np.random.default_rng(0).random(PAYLOAD // 8)
    url = serve()
    hub = Hub(QueueTransport(queue), timeout_s=60.0)
    in_memory = Hub(InMemoryTransport({"a": Echo()}))
    plan = Plan.plain([SiteInfo("a", 1)])
    with running_sites(url, {"a": Echo()}, tmp_path / "spool", chunk_bytes=4 * MiB):
        hub.broadcast(plan, "stats", 0, arrays={"x": x[:10]})  # warm up: imports, connections
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            replies = hub.broadcast(plan, "stats", 1, arrays={"x": x})
            network_peak = _peak_over(base)
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            in_memory.broadcast(plan, "stats", 1, arrays={"x": x})
            in_memory_peak = _peak_over(base)
        finally:
            tracemalloc.stop()
    np.testing.assert_array_equal(replies["a"].arrays["x"], x)
    committed = [p for p in queue.blobs.folder.iterdir() if p.is_file()]
    # The echoed reply carries the task's own payload: the same digest, one blob for both.
    assert len(committed) == 1 and committed[0].stat().st_size > PAYLOAD
    assert network_peak < in_memory_peak, (network_peak / MiB, in_memory_peak / MiB)
    assert network_peak < 4 * PAYLOAD, network_peak / MiB


class CountingFetch(SiteClient):
    """A site that records the payload files it reads and answers with a small reply."""

    def _download(self, ref: BlobRef, stop: threading.Event) -> Task:
        self.fetch_payload(ref, stop)  # fetched (or found in the cache) and digest-checked
        return Task.from_parts(ref.header.encode("utf-8"), b"")


def test_a_site_fetches_a_shared_payload_once(
    tmp_path: Path, serve: Serve, queue: TaskQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = serve()
    queue.inline_limit = 1000
    reads: list[str] = []
    real_open = queue.blobs.open
    monkeypatch.setattr(queue.blobs, "open", lambda d: reads.append(d) or real_open(d))
    payload = Task.build(
        task_id="x", plan_id="p", round=0, site="a", kind="stats", arrays={"x": np.ones(5000)}
    ).payload
    tasks = [
        Task(task_id=f"t{i}", plan_id="p", round=i, site="a", kind="stats", payload=payload)
        for i in range(3)
    ]
    for task in tasks:
        queue.post(task)
    with running_sites(url, {"a": Ack()}, tmp_path / "spool") as clients:
        replies = queue.wait_replies([t.task_id for t in tasks], 20.0)
        cached = list(clients["a"].payloads.iterdir())
    assert set(replies) == {"t0", "t1", "t2"}
    assert len(reads) == 1  # one GET for the three tasks
    assert [p.name for p in cached] == [hashlib.sha256(payload).hexdigest()]


def _fetching_sites(url: str, sites: list[str], spool: str, stop: Any) -> None:
    """Sites in their own process (so that the test measures the hub alone): each fetches
    its task's payload without building the task, and answers with a small reply."""
    endpoints: dict[str, SiteEndpoint] = dict.fromkeys(sites, Ack())
    with running_sites(url, endpoints, Path(spool), client=CountingFetch):
        stop.wait(120)


def test_broadcasting_a_20_mb_model_to_10_sites_keeps_the_hubs_memory_flat(
    tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    """The model is encoded once and stored once; ten sites stream it at once."""
    x = np.random.default_rng(1).random(PAYLOAD // 8)
    sites = [f"s{i}" for i in range(10)]
    url = serve()
    hub = Hub(QueueTransport(queue), timeout_s=60.0)
    plan = Plan.plain([SiteInfo(s, 1) for s in sites])
    spawn = mp.get_context("spawn")
    stop = spawn.Event()
    process = spawn.Process(
        target=_fetching_sites, args=(url, sites, str(tmp_path / "spool"), stop), daemon=True
    )
    process.start()
    try:
        hub.broadcast(plan, "stats", 0, arrays={"x": x[:10]})  # warm up: sites polling, connections
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            replies = hub.broadcast(plan, "stats", 1, arrays={"x": x})
            peak = _peak_over(base)
        finally:
            tracemalloc.stop()
    finally:
        stop.set()
        process.join(30)
    assert set(replies) == set(sites)
    blobs = [p for p in queue.blobs.folder.iterdir() if p.is_file()]
    assert len(blobs) == 1  # one payload file for ten tasks
    # the payload once, plus two small pieces in flight per site (measured: about 1.3 x);
    # it was about 10 x 4/3 x PAYLOAD with the tasks as base64 JSON
    assert peak < 3 * PAYLOAD, peak / MiB


def test_a_reference_names_the_bad_field() -> None:
    with pytest.raises(TransportError, match="field 'blob'"):
        BlobRef.from_wire(b'{"task_id": "t", "blob": "xyz", "size": 3, "header": "{}"}')
    with pytest.raises(TransportError, match="field 'header'"):
        BlobRef.from_wire(b'{"task_id": "t", "blob": "%s", "size": 3}' % (b"a" * 64))


def test_a_frame_written_over_a_spare_file_takes_it_and_reads_back_exactly(
    tmp_path: Path,
) -> None:
    spare = tmp_path / ".spare"
    spare.write_bytes(b"x" * 100_000)  # larger than the frame: the rest must go
    reply = Reply.build(task_id="t1", site="a", kind="stats", arrays={"w": np.arange(10.0)})
    size = write_frame(reply, tmp_path / "r.reply", durable=False, reuse=spare)
    assert not spare.exists()
    assert (tmp_path / "r.reply").stat().st_size == size
    assert read_frame(tmp_path / "r.reply", Reply) == reply
    again = write_frame(reply, tmp_path / "s.reply", reuse=spare)  # no spare left: a new file
    assert read_frame(tmp_path / "s.reply", Reply) == reply and again == size
