"""Network benchmark: round overhead over mutual TLS, model-transfer throughput, hub memory.

    python bench/network.py [--out FILE] [--quick] [--sizes 10,40] [--rounds 5]
                            [--params 1000] [--model-mb 100] [--transfer-reps 3]
                            [--memory-sites 40] [--memory-model-mb 100]

Everything runs on 127.0.0.1 over HTTPS with TLS 1.3 and mutual authentication: a
throwaway CA issues the hub's certificate and one per site, the hub serves
``accord.net.create_app`` under uvicorn (``start_in_thread``) over a durable
``TaskQueue`` (SQLite, WAL, synchronous=FULL) and authenticates every request by the
caller's certificate (``authenticate_certificate`` + ``check_peer``). Each site is a
``SiteClient`` in its own spawned process (one process per site, started once and reused
by every measure); sites long-poll with ``wait`` = 5 s. MB = 10^6 bytes.

1. Orchestration overhead (``"measure": "rounds"``). The hub's round loop
   (``Hub.run_instructions`` with one ``train`` instruction per site, FedAvg-like) against
   N sites whose handler returns ``params`` float32 values times its row count; 1 warm-up
   round then ``--rounds`` timed rounds, for each N in ``--sizes``, with secure aggregation
   off and on (``SecureSettings()`` defaults: complete graph; each site runs
   ``secure_aggregation_middleware`` with its own Ed25519 key). The same rounds through
   ``InMemoryTransport`` (every site in this process, one after another, so the sites'
   own work runs serially there while networked sites share the CPUs) are the reference:
   overhead = network median - in-memory median. Both sums are compared.
2. Transfer throughput (``"transfer"``). One task holding a ``--model-mb`` float32 model
   goes hub -> site and a reply of the same size comes back, through the blob path (the
   hub writes the payload blob and posts the task; the site streams the blob into its
   payload cache while hashing it, checks the digest and builds the task; the reply's
   payload is uploaded from memory, while the site spools the reply, in
   ``DEFAULT_CHUNK_BYTES`` requests that the hub appends to a staging file while hashing,
   then committed, and the reply built by the hub; a fresh payload each rep, so nothing
   comes from a cache; after one untimed exchange of a small task, so that the site's
   client is polling). Download time runs
   from the hub posting the task to the site's handler starting, upload time from the
   handler returning to the hub holding the parsed reply (CLOCK_MONOTONIC, shared by the
   processes). In the same run and the same site process, a raw HTTPS transfer of the
   same number of bytes: httpx streaming PUT (the server writes a file and fsyncs it) then
   GET (a starlette ``FileResponse``; the client writes a file), served by the same
   uvicorn stack with the same TLS contexts. Ratio = raw seconds / accord seconds (the
   throughput ratio; target >= 0.8). Medians over ``--transfer-reps`` alternating reps.
3. Hub memory (``"hub_memory"``). The hub (queue, HTTPS server and round loop, as in
   ``start_in_thread`` deployments) runs in its own spawned process and broadcasts a
   ``--memory-model-mb`` model to ``--memory-sites`` sites, which fetch it through the
   real streamed, digest-checked download (``SiteClient.fetch_payload``) but do not build
   the task (N sites each holding the model at once would need N model sizes of memory,
   on one machine; the hub's side is identical) and answer with a small reply. Reported:
   the hub's RSS before the broadcast, its peak (VmHWM) once every task is
   posted, the peak RSS sampled every 0.1 s while sites fetch, and the final VmHWM.

Prints one JSON line per measure and a final ``"summary"`` line; ``--out`` writes them all
as one JSON object. ``--quick`` (3 and 5 sites, 2 rounds, 5 MB, 5 memory sites) is a
smoke run of about 35 s on 2 cores (at 5 MB the task travels inline, not as a blob); the
full run takes 2 to 3.5 minutes there, most of it starting 40 site processes and the
memory measure.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import multiprocessing as mp
import os
import platform
import queue as queue_mod
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from accord.core import encode_arrays, new_id
from accord.crypto import (
    Identity,
    TLSFiles,
    check_peer,
    client_context,
    enroll,
    init_ca,
    load_ca_certificate,
    server_context,
    sign_request,
)
from accord.fl import (
    Hub,
    InMemoryTransport,
    Plan,
    SecureSettings,
    Site,
    SiteContext,
    WeightedSum,
    secure_aggregation_middleware,
)
from accord.fl.strategies import Instruction, SiteInfo
from accord.net import (
    Dropout,
    QueueTransport,
    Reply,
    SiteClient,
    SiteEndpoint,
    Task,
    TaskQueue,
    authenticate_certificate,
    create_app,
    start_in_thread,
)
from accord.net._chunks import DEFAULT_CHUNK_BYTES, DEFAULT_INLINE_LIMIT, BlobRef

MB = 1_000_000
MIB = 1024 * 1024
POLL_WAIT_S = 5.0
HUB_TIMEOUT_S = 600.0
TARGET_RATIO = 0.8

# --- PKI and TLS ------------------------------------------------------------------------


def make_pki(folder: Path, sites: Sequence[str]) -> None:
    """A throwaway consortium CA, the hub's certificate for 127.0.0.1 and one per site."""
    init_ca(folder, "bench")
    for org, hosts in [("hub", ["127.0.0.1", "localhost"]), *((s, []) for s in sites)]:
        _, csr = enroll(folder, org, hosts=hosts)
        sign_request(folder, csr, folder)


def tls_context(pki: Path, org: str, *, server: bool = False) -> Any:
    files = TLSFiles.for_org(pki, org)
    make = server_context if server else client_context
    return make(files.cert, files.key, files.ca)


def serve_hub(queue: TaskQueue, pki: Path) -> tuple[str, Callable[[], None]]:
    """The hub's app over mutual TLS on a free loopback port; returns (url, stop)."""
    ca = load_ca_certificate(pki / "ca.crt")
    app = create_app(queue, authenticate_certificate(lambda der: check_peer(der, ca).org))
    return start_in_thread(app, "127.0.0.1", 0, ssl_context=tls_context(pki, "hub", server=True))


def raw_app(folder: Path) -> Starlette:
    """A minimal upload/download endpoint: PUT streams the body to a file, GET streams it."""

    async def put(request: Request) -> Response:
        path = folder / request.path_params["name"]
        with path.open("wb") as handle:
            async for piece in request.stream():
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        return JSONResponse({"size": path.stat().st_size})

    async def get(request: Request) -> Response:
        return FileResponse(folder / request.path_params["name"])

    return Starlette(
        routes=[
            Route("/raw/{name}", put, methods=["PUT"]),
            Route("/raw/{name}", get, methods=["GET"]),
        ]
    )


# --- sites --------------------------------------------------------------------------------


@functools.cache
def signer_of(site: str) -> Identity:
    """A benchmark site's Ed25519 key, derived from its name (benchmark keys, not secrets)."""
    seed = hashlib.sha256(f"accord-bench-{site}".encode()).digest()
    return Identity(site, Ed25519PrivateKey.from_private_bytes(seed))


def n_train(site: str) -> int:
    return 100 + int(site.rsplit("-", 1)[1])


def train(task: Task, ctx: SiteContext) -> Reply:
    """Trivial local work: the sent parameters times the site's row count (FedAvg's sum)."""
    n = n_train(ctx.site)
    return Reply.build(
        task_id=task.task_id,
        site=task.site,
        kind=task.kind,
        weight=float(n),
        counts={"n_train": n},
        metrics={"loss": 0.0},
        arrays={"w": task.arrays["w"] * np.float32(n)},
    )


def bench_site(site: str, all_sites: Sequence[str]) -> Site:
    """A site answering ``train`` tasks, with the secure-aggregation middleware."""
    public = {s: signer_of(s).public.public_key for s in all_sites}
    middleware = secure_aggregation_middleware(signer_of(site), public.__getitem__)
    context = SiteContext(site, None, None, 0)  # type: ignore[arg-type]  # no data needed
    return Site(context, {"train": train}, [middleware])


class SizedEcho:
    """Answers any task with a reply payload of a given size; stamps the times.

    Each reply's payload differs from the last (its final byte counts the calls, outside
    the timed span), so the hub never holds it already.
    """

    def __init__(self, nbytes: int) -> None:
        rng = np.random.default_rng(1)  # benchmark data, not a secret
        self.payload = encode_arrays({"w": rng.standard_normal(nbytes // 4, dtype=np.float32)})
        self.calls = 0

    def handle(self, task: Task) -> Reply:
        entered = time.monotonic()
        self.calls += 1
        payload = self.payload[:-1] + bytes([self.calls % 256])
        return Reply(
            task_id=task.task_id,
            site=task.site,
            kind=task.kind,
            weight=float(len(task.payload)),
            metrics={"t_entry": entered, "t_return": time.monotonic()},
            payload=payload,
        )


class Ack:
    """Answers any task with an empty reply."""

    def handle(self, task: Task) -> Reply:
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, weight=1.0)


class FetchOnlyClient(SiteClient):
    """Downloads a large task's payload through the real path, then skips building it."""

    def _download(self, ref: BlobRef, stop: threading.Event) -> Task:
        path = self.fetch_payload(ref, stop)  # size and digest checked
        path.unlink()  # 40 cached copies of the model would only fill the benchmark's disk
        return Task.from_parts(ref.header.encode("utf-8"), b"")


def raw_transfer(url: str, context: Any, source: Path, target: Path) -> dict[str, float]:
    """Seconds for a streaming HTTPS PUT of ``source`` and a GET of it back into ``target``."""

    def pieces() -> Iterator[bytes]:
        with source.open("rb") as handle:
            while piece := handle.read(MIB):
                yield piece

    with httpx.Client(base_url=url, verify=context, timeout=300.0) as http:
        start = time.monotonic()
        response = http.put("/raw/model", content=pieces())
        put_s = time.monotonic() - start
        response.raise_for_status()
        start = time.monotonic()
        with http.stream("GET", "/raw/model") as got, target.open("wb") as handle:
            got.raise_for_status()
            for piece in got.iter_raw():
                handle.write(piece)
        get_s = time.monotonic() - start
    if target.stat().st_size != source.stat().st_size:
        raise RuntimeError("raw transfer: size mismatch")
    return {"upload_s": put_s, "download_s": get_s}


@dataclass(frozen=True)
class WorkerSpec:
    site: str
    pki: str
    spool: str
    all_sites: tuple[str, ...]


def site_worker(spec: WorkerSpec, jobs: Any, events: Any, stop: Any) -> None:
    """One site's process: runs the jobs the benchmark sends until it sends None.

    ``("rounds"|"transfer"|"fetch", url, ...)`` starts a SiteClient in a thread until
    ``stop`` is set (then reports ``"stopped"``); ``("raw", url, nbytes)`` runs a raw
    HTTPS transfer and reports its seconds.
    """
    pki, spool = Path(spec.pki), Path(spec.spool)
    context = tls_context(pki, spec.site)
    events.put(("ready", spec.site, None))
    while (job := jobs.get()) is not None:
        kind, url, arg = job
        try:
            if kind == "raw":
                source = spool / f"raw-source-{arg}"
                if not source.is_file():
                    source.write_bytes(os.urandom(arg))
                timings = raw_transfer(url, context, source, spool / "raw-target")
                events.put(("raw", spec.site, timings))
                continue
            endpoint: SiteEndpoint = (
                bench_site(spec.site, spec.all_sites)
                if kind == "rounds"
                else SizedEcho(arg)
                if kind == "transfer"
                else Ack()
            )
            make = FetchOnlyClient if kind == "fetch" else SiteClient
            client = make(
                url,
                endpoint,
                ssl_context=context,
                site=spec.site,
                spool_dir=spool / "client",
                poll_wait_s=POLL_WAIT_S,
            )
            threading.Thread(target=_serve, args=(client, stop, events), daemon=True).start()
        except Exception as exc:
            events.put(("error", spec.site, f"{kind}: {type(exc).__name__}: {exc}"))


def _serve(client: SiteClient, stop: Any, events: Any) -> None:
    try:
        client.run(stop)
        events.put(("stopped", client.site, client.handled))
    except Exception as exc:
        events.put(("error", client.site, f"{type(exc).__name__}: {exc}"))
    finally:
        client.close()


class SiteWorkers:
    """One spawned process per site, started once; jobs are dispatched per measure."""

    def __init__(self, sites: Sequence[str], pki: Path, spool: Path) -> None:
        ctx = mp.get_context("spawn")
        self.stop = ctx.Event()
        self.events: Any = ctx.Queue()
        self.jobs: dict[str, Any] = {s: ctx.Queue() for s in sites}
        self.processes = [
            ctx.Process(
                target=site_worker,
                args=(
                    WorkerSpec(s, str(pki), str(spool / s), tuple(sites)),
                    self.jobs[s],
                    self.events,
                    self.stop,
                ),
                name=f"site-{s}",
                daemon=True,
            )
            for s in sites
        ]
        for p in self.processes:
            p.start()
        self.wait("ready", sites, timeout_s=300.0)

    def wait(self, kind: str, sites: Sequence[str], timeout_s: float) -> dict[str, Any]:
        """The ``kind`` event of each of ``sites``; an error event from any site raises."""
        got: dict[str, Any] = {}
        deadline = time.monotonic() + timeout_s
        while len(got) < len(sites):
            try:
                event, site, value = self.events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue_mod.Empty:
                raise RuntimeError(f"sites did not report '{kind}' in {timeout_s:g} s") from None
            if event == "error":
                raise RuntimeError(f"site {site}: {value}")
            if event == kind:
                got[site] = value
        return got

    def start(self, kind: str, sites: Sequence[str], url: str, arg: Any = None) -> None:
        self.stop.clear()
        for site in sites:
            self.jobs[site].put((kind, url, arg))

    def halt(self, sites: Sequence[str]) -> None:
        self.stop.set()
        self.wait("stopped", sites, timeout_s=POLL_WAIT_S + 60.0)

    def raw(self, site: str, url: str, nbytes: int) -> dict[str, float]:
        self.jobs[site].put(("raw", url, nbytes))
        return dict(self.wait("raw", [site], timeout_s=600.0)[site])

    def close(self) -> None:
        for q in self.jobs.values():
            q.put(None)
        for p in self.processes:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()


# --- 1. orchestration overhead -----------------------------------------------------------


def run_rounds(
    bench: tuple[Hub, Plan], params: np.ndarray, rounds: int, warmup: int
) -> tuple[list[float], WeightedSum]:
    """Seconds per timed round (after ``warmup`` rounds) and the last round's sum."""
    hub, plan = bench
    times: list[float] = []
    summed: WeightedSum | None = None
    for rnd in range(warmup + rounds):
        instructions = [Instruction(s.site, "train", {"w": params}, {}) for s in plan.sites]
        start = time.perf_counter()
        summed = hub.run_instructions(plan, rnd, instructions)
        if rnd >= warmup:
            times.append(time.perf_counter() - start)
    assert summed is not None
    return times, summed


def make_hub(transport: Any, sites: Sequence[str], secure: bool) -> tuple[Hub, Plan]:
    """A hub over ``transport`` and a plan for ``sites`` (secure aggregation with the
    default settings, or none)."""
    infos = [SiteInfo(site=s, n_train=n_train(s)) for s in sites]
    hub = Hub(transport, timeout_s=HUB_TIMEOUT_S, min_sites=len(sites))
    plan = Plan.plain(infos).with_secure(SecureSettings() if secure else None)
    return hub, plan


def stats(times: Sequence[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(times), 4),
        "p90": round(float(np.percentile(times, 90)), 4),
        "min": round(min(times), 4),
        "max": round(max(times), 4),
    }


def measure_rounds(
    n: int, secure: bool, queue: TaskQueue, args: argparse.Namespace
) -> dict[str, Any]:
    """Round times over the network (sites already polling ``queue``'s hub) and in memory."""
    sites = site_names(n)
    params = np.random.default_rng(n).uniform(-1, 1, args.params).astype(np.float32)
    net_times, net_sum = run_rounds(
        make_hub(QueueTransport(queue), sites, secure), params, args.rounds, 1
    )
    local = InMemoryTransport({s: bench_site(s, sites) for s in sites})
    mem_times, mem_sum = run_rounds(make_hub(local, sites, secure), params, args.rounds, 1)
    net, mem = stats(net_times), stats(mem_times)
    overhead = net["median"] - mem["median"]
    return {
        "measure": "rounds",
        "n_sites": n,
        "secure": secure,
        "params": args.params,
        "rounds": args.rounds,
        "warmup": 1,
        "network_s": net,
        "in_memory_s": mem,
        "overhead_s": round(overhead, 4),
        "overhead_ms_per_site": round(1000 * overhead / n, 2),
        "sum_max_abs_diff": float(np.abs(net_sum.arrays["w"] - mem_sum.arrays["w"]).max()),
        "weights_equal": net_sum.weight == mem_sum.weight and net_sum.count == mem_sum.count,
    }


# --- 2. transfer throughput --------------------------------------------------------------


def accord_transfer(
    bench: tuple[Hub, Plan], site: str, model: np.ndarray, rnd: int
) -> dict[str, float]:
    """Seconds hub -> site (post to handler entry) and back (handler return to parsed reply)."""
    hub, plan = bench
    task = Task.build(
        task_id=new_id("task"), plan_id=plan.plan_id, round=rnd, site=site, kind="train",
        arrays={"w": model},
    )  # fmt: skip
    start = time.monotonic()
    reply = hub.exchange(rnd, [task])[site]
    done = time.monotonic()
    if int(reply.weight) != len(task.payload) or len(reply.payload) != len(task.payload):
        raise RuntimeError("transfer: payload sizes do not match")
    return {
        "download_s": reply.metrics["t_entry"] - start,  # type: ignore[operator]
        "upload_s": done - reply.metrics["t_return"],  # type: ignore[operator]
    }


def wire_bytes(model: np.ndarray) -> int:
    """Size of the wire frame of a task carrying ``model`` (JSON header + raw payload)."""
    task = Task.build(task_id=new_id("task"), plan_id="p", round=0, site="s", kind="train",
                      arrays={"w": model})  # fmt: skip
    return len(task.to_wire())


def measure_transfer(
    workers: SiteWorkers, url: str, queue: TaskQueue, pki: Path, folder: Path, model_mb: float,
    reps: int,
) -> dict[str, Any]:  # fmt: skip
    site = next(iter(workers.jobs))
    nbytes = int(model_mb * MB) // 4 * 4
    model = np.random.default_rng(2).standard_normal(nbytes // 4, dtype=np.float32)
    raw_folder = folder / "raw"
    raw_folder.mkdir()
    raw_url, stop_raw = start_in_thread(
        raw_app(raw_folder), "127.0.0.1", 0, ssl_context=tls_context(pki, "hub", server=True)
    )
    hub, plan = make_hub(QueueTransport(queue), [site], secure=False)
    workers.start("transfer", [site], url, nbytes)
    accord, raw = [], []
    try:
        warm_up = Task.build(task_id=new_id("task"), plan_id=plan.plan_id, round=0, site=site,
                             kind="train", arrays={"w": model[:16]})  # fmt: skip
        hub.exchange(0, [warm_up])  # untimed: the site's client is up and polling
        for rep in range(reps):
            model[0] = rep  # a new payload each rep: the site's payload cache never has it
            accord.append(accord_transfer((hub, plan), site, model, rep + 1))
            raw.append(workers.raw(site, raw_url, nbytes))
    finally:
        workers.halt([site])
        stop_raw()
    a_down = statistics.median(r["download_s"] for r in accord)
    a_up = statistics.median(r["upload_s"] for r in accord)
    r_down = statistics.median(r["download_s"] for r in raw)
    r_up = statistics.median(r["upload_s"] for r in raw)
    ratio = (r_down + r_up) / (a_down + a_up)
    return {
        "measure": "transfer",
        "model_mb": round(nbytes / MB, 1),
        "wire_mb": round(wire_bytes(model) / MB, 1),
        "reps": reps,
        "chunk_mib": DEFAULT_CHUNK_BYTES / MIB,
        "accord": _rates(a_down, a_up, nbytes),
        "raw_https": _rates(r_down, r_up, nbytes),
        "accord_runs": [{k: round(v, 3) for k, v in r.items()} for r in accord],
        "raw_runs": [{k: round(v, 3) for k, v in r.items()} for r in raw],
        "ratio": round(ratio, 3),
        "ratio_download": round(r_down / a_down, 3),
        "ratio_upload": round(r_up / a_up, 3),
        "target": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }


def _rates(down_s: float, up_s: float, nbytes: int) -> dict[str, float]:
    return {
        "download_s": round(down_s, 3),
        "upload_s": round(up_s, 3),
        "download_mb_s": round(nbytes / MB / down_s, 1),
        "upload_mb_s": round(nbytes / MB / up_s, 1),
        "mb_s": round(2 * nbytes / MB / (down_s + up_s), 1),
    }


# --- 3. hub memory -----------------------------------------------------------------------


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class MarkedTransport(QueueTransport):
    """A QueueTransport that reports the hub's memory once every task is posted."""

    def __init__(self, queue: TaskQueue, events: Any) -> None:
        super().__init__(queue)
        self.events = events

    def collect(self, task_ids: Sequence[str], timeout_s: float) -> dict[str, Reply | Dropout]:
        self.events.put(("posted", time.monotonic(), proc_status()))
        return super().collect(task_ids, timeout_s)


def hub_memory_process(
    pki: str, folder: str, sites: list[str], nbytes: int, events: Any, finish: Any
) -> None:
    """The hub as its own process: serve, broadcast one model to every site, report memory.

    The server stops once ``finish`` is set (after the sites stopped polling).
    """
    queue = TaskQueue(Path(folder) / "queue.sqlite")
    url, stop = serve_hub(queue, Path(pki))
    events.put(("url", url, proc_status()))
    model = np.random.default_rng(3).standard_normal(nbytes // 4, dtype=np.float32)
    with_model = proc_status()
    hub, plan = make_hub(MarkedTransport(queue, events), sites, secure=False)
    start = time.monotonic()
    replies = hub.broadcast(plan, "train", 0, arrays={"w": model})
    seconds = time.monotonic() - start
    end = {"with_model": with_model, "end": proc_status(), "ok": len(replies)}
    events.put(("done", seconds, end))
    finish.wait(120)
    stop()
    queue.close()


@contextmanager
def sampling(pid: int, samples: list[tuple[float, int]]) -> Iterator[None]:
    """Sample ``pid``'s VmRSS (KiB) every 0.1 s while the block runs."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(0.1):
            try:
                samples.append((time.monotonic(), proc_status(pid)["VmRSS"]))
            except (OSError, KeyError):
                return

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def measure_memory(
    workers: SiteWorkers, pki: Path, folder: Path, n: int, model_mb: float
) -> dict[str, Any]:
    sites = site_names(n)
    nbytes = int(model_mb * MB) // 4 * 4
    ctx = mp.get_context("spawn")
    events: Any = ctx.Queue()
    finish = ctx.Event()
    hub = ctx.Process(
        target=hub_memory_process, args=(str(pki), str(folder), sites, nbytes, events, finish)
    )
    hub.start()
    samples: list[tuple[float, int]] = []
    try:
        _, url, before = events.get(timeout=120)
        with sampling(hub.pid or 0, samples):
            workers.start("fetch", sites, url)
            _, posted_at, posted = events.get(timeout=HUB_TIMEOUT_S)
            _, seconds, end = events.get(timeout=HUB_TIMEOUT_S)
        workers.halt(sites)
    finally:
        finish.set()
        hub.join(timeout=60)
        if hub.is_alive():
            hub.terminate()
    serving = [rss for t, rss in samples if t >= posted_at]
    mib = 1024.0
    return {
        "measure": "hub_memory",
        "n_sites": n,
        "model_mb": round(nbytes / MB, 1),
        "hub": "queue + HTTPS server + round loop in one spawned process; Hub.broadcast",
        "sites_parse_task": False,
        "seconds": round(seconds, 1),
        "replies": end["ok"],
        "rss_before_mib": round(before["VmRSS"] / mib, 1),
        "rss_with_model_mib": round(end["with_model"]["VmRSS"] / mib, 1),
        "peak_when_posted_mib": round(posted["VmHWM"] / mib, 1),
        "peak_while_serving_mib": round(max(serving, default=0) / mib, 1),
        "peak_rss_mib": round(end["end"]["VmHWM"] / mib, 1),
        "growth_per_site_mib": round(
            (end["end"]["VmHWM"] - end["with_model"]["VmRSS"]) / mib / n, 1
        ),
    }


# --- driver --------------------------------------------------------------------------------


def site_names(n: int) -> list[str]:
    return [f"site-{i:02d}" for i in range(n)]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", help="also write every measure as one JSON object here")
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes")
    parser.add_argument("--sizes", default="10,40", help="site counts for the round overhead")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after 1 warm-up")
    parser.add_argument("--params", type=int, default=1000, help="float32 values per update")
    parser.add_argument("--model-mb", type=float, default=100.0, help="transfer model size")
    parser.add_argument("--transfer-reps", type=int, default=3)
    parser.add_argument("--memory-sites", type=int, default=40)
    parser.add_argument("--memory-model-mb", type=float, default=100.0)
    if parser.parse_known_args(argv)[0].quick:  # explicit options still win
        parser.set_defaults(
            sizes="3,5", rounds=2, model_mb=5.0, transfer_reps=2, memory_sites=5,
            memory_model_mb=5.0,
        )  # fmt: skip
    args = parser.parse_args(argv)
    if args.out:  # before the run, not after it: a fresh clone has no runs/bench/
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    return args


def conditions(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sites": "one spawned process per site (SiteClient), all on 127.0.0.1",
        "tls": "TLS 1.3, mutual, ECDSA P-256 certificates from a throwaway CA",
        "queue": "SQLite WAL synchronous=FULL, blobs fsynced, in a temporary folder",
        "poll_wait_s": POLL_WAIT_S,
        "inline_limit_mib": DEFAULT_INLINE_LIMIT / MIB,
        "quick": args.quick,
    }


def summarise(lines: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    rounds = {
        f"{r['n_sites']}_sites_{'secure' if r['secure'] else 'plain'}": {
            "round_s_median": r["network_s"]["median"],
            "round_s_p90": r["network_s"]["p90"],
            "in_memory_s_median": r["in_memory_s"]["median"],
            "overhead_s": r["overhead_s"],
        }
        for r in lines
        if r["measure"] == "rounds"
    }
    transfer = next(r for r in lines if r["measure"] == "transfer")
    memory = next(r for r in lines if r["measure"] == "hub_memory")
    return {
        "bench": "network",
        "measure": "summary",
        "rounds": rounds,
        "transfer_mb": transfer["model_mb"],
        "transfer_accord_mb_s": transfer["accord"]["mb_s"],
        "transfer_raw_https_mb_s": transfer["raw_https"]["mb_s"],
        "transfer_ratio": transfer["ratio"],
        "transfer_meets_target": transfer["meets_target"],
        "hub_memory": {
            "n_sites": memory["n_sites"],
            "model_mb": memory["model_mb"],
            "peak_rss_mib": memory["peak_rss_mib"],
            "growth_per_site_mib": memory["growth_per_site_mib"],
        },
        "conditions": conditions(args),
    }


def emit(line: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    line = {"bench": "network", **line}
    lines.append(line)
    print(json.dumps(line), flush=True)


def run_measures(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    """Every measure, in order, each printed as soon as it is done."""
    lines: list[dict[str, Any]] = []
    sizes = [int(n) for n in args.sizes.split(",")]
    pki = folder / "pki"
    all_sites = site_names(max([*sizes, args.memory_sites]))
    make_pki(pki, all_sites)
    workers = SiteWorkers(all_sites, pki, folder / "sites")
    try:
        queue = TaskQueue(folder / "hub" / "queue.sqlite")
        url, stop_hub = serve_hub(queue, pki)
        try:
            for n in sizes:
                workers.start("rounds", site_names(n), url)
                for secure in (False, True):
                    emit(measure_rounds(n, secure, queue, args), lines)
                workers.halt(site_names(n))
            transfer = measure_transfer(
                workers, url, queue, pki, folder, args.model_mb, args.transfer_reps
            )
            emit(transfer, lines)
        finally:
            stop_hub()
            queue.close()
        memory = measure_memory(
            workers, pki, folder / "memory-hub", args.memory_sites, args.memory_model_mb
        )
        emit(memory, lines)
    finally:
        workers.close()
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    folder = Path(tempfile.mkdtemp(prefix="accord-bench-net-"))
    try:
        lines = run_measures(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    summary = summarise(lines, args)
    print(json.dumps(summary), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({"measures": lines, "summary": summary}, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
