"""Secure aggregation of one round, hub side: the hub learns only the sum.

Four exchanges with the round's sites (Bonawitz et al. 2017; SecAgg+ neighbours optional):

A. the real tasks, marked ``secagg``: each site runs its task, keeps its contribution and
   answers with a signed advertisement of fresh X25519 keys and the layout (names, shapes)
   of its contribution — the site-level metrics travel in clear, the arrays do not;
B. ``secagg.share``: every site gets the advertisements and returns Shamir shares of its
   secrets, encrypted for each neighbour;
C. ``secagg.mask``: every site gets the shares addressed to it and returns its masked,
   quantised contribution (uniform noise to anyone without the masks);
D. ``secagg.unmask``: survivors return the shares that let the hub remove the masks of
   survivors and of the sites that dropped out after B.

The result is the same :class:`WeightedSum` plain summation gives (up to quantisation), so
any strategy that aggregates a weighted sum runs unchanged.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accord.core.errors import AggregationError
from accord.crypto.secagg import Advertisement, Quantizer, SecAggConfig, SecAggServer
from accord.fl.aggregation import WeightedSum
from accord.fl.contribution import Layout, unflatten
from accord.net.messages import ConfigValue, Reply, Task, TaskKind

if TYPE_CHECKING:
    from accord.fl.hub import Hub

__all__ = ["SecureSettings", "secagg_config", "secure_round"]


@dataclass(frozen=True)
class SecureSettings:
    """Quantisation range and SecAgg+ graph of a plan (from the study's [privacy])."""

    clip: float = 1e4
    threshold: float = 0.67
    neighbours: int | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def secagg_config(
    plan: str, rnd: int, config: Mapping[str, ConfigValue], length: int
) -> SecAggConfig:
    """The round's SecAgg configuration, rebuilt identically by the hub and every site."""
    sites = tuple(str(config["secagg_sites"]).split(","))
    k = int(config["secagg_k"]) or None
    return SecAggConfig(
        plan=plan,
        round=rnd,
        sites=sites,
        threshold=int(config["secagg_threshold"]),
        vector_length=length,
        quantizer=Quantizer(clip=float(config["secagg_clip"]), n_summands=len(sites)),
        k=k,
        graph_seed=bytes.fromhex(str(config["secagg_seed"])),
    )


def _round_config(sites: Sequence[str], settings: SecureSettings) -> dict[str, ConfigValue]:
    n = len(sites)
    k = settings.neighbours if settings.neighbours and settings.neighbours < n - 1 else None
    neighbourhood = (k + 1) if k else n
    threshold = min(
        neighbourhood,
        max(2, neighbourhood // 2 + 1, math.floor(settings.threshold * neighbourhood)),
    )
    return {
        "secagg": True,
        "secagg_sites": ",".join(sites),
        "secagg_threshold": threshold,
        "secagg_k": k or 0,
        "secagg_clip": settings.clip,
        "secagg_seed": os.urandom(16).hex(),
    }


def _task(hub: Hub, rnd: int, site: str, kind: TaskKind, document: str) -> Task:
    from accord.core.ids import new_id

    return Task.build(
        task_id=new_id("task"),
        plan_id=hub.plan_id,
        round=rnd,
        site=site,
        kind=kind,
        config=dict(hub.task_config),
        document=document,
    )


def _layout(replies: Mapping[str, Reply]) -> Layout:
    layouts = {tuple(r.labels.get("layout", ())) for r in replies.values()}
    if len(layouts) != 1:
        raise AggregationError("sites returned contributions of different layouts")
    return Layout.from_labels(next(iter(layouts)))


def secure_round(
    hub: Hub, rnd: int, tasks: Sequence[Task], settings: SecureSettings
) -> tuple[WeightedSum, dict[str, Reply]]:
    """Run ``tasks`` under secure aggregation; returns the sum and the phase-A replies."""
    if len(tasks) < 2:
        raise AggregationError("secure aggregation needs at least two contributing sites")
    common = _round_config([t.site for t in tasks], settings)
    first = [t.model_copy(update={"config": {**t.config, **common}}) for t in tasks]
    replies = hub.exchange(rnd, first)
    layout = _layout(replies)
    server = SecAggServer(secagg_config(hub.plan_id, rnd, common, layout.length))
    adverts = {
        s: Advertisement.from_bytes(base64.b64decode(r.document)) for s, r in replies.items()
    }
    forwarded = server.collect_adverts(adverts)
    doc = json.dumps({s: _b64(a.to_bytes()) for s, a in forwarded.items()})
    shared = hub.exchange(rnd, [_task(hub, rnd, s, "secagg.share", doc) for s in forwarded])
    outgoing = {
        s: {to: base64.b64decode(v) for to, v in json.loads(r.document).items()}
        for s, r in shared.items()
    }
    routed = server.route_shares(outgoing)
    mask_tasks = [
        _task(hub, rnd, s, "secagg.mask", json.dumps({f: _b64(b) for f, b in shares.items()}))
        for s, shares in routed.items()
    ]
    masked = hub.exchange(rnd, mask_tasks)
    survivors, dropped = server.collect_masked({s: r.arrays["masked"] for s, r in masked.items()})
    doc = json.dumps({"survivors": list(survivors), "dropped": list(dropped)})
    unmasked = hub.exchange(rnd, [_task(hub, rnd, s, "secagg.unmask", doc) for s in survivors])
    total = server.finalize(
        {
            s: {f: base64.b64decode(v) for f, v in json.loads(r.document).items()}
            for s, r in unmasked.items()
        }
    )
    arrays, weight, counts = unflatten(total, layout)
    return WeightedSum(arrays, weight, len(survivors), counts), replies
