"""Secure aggregation of one round, hub side: the hub learns only the sum.

Five exchanges with the round's sites (Bonawitz et al. 2017; SecAgg+ neighbours optional):

A. the real tasks, marked ``secagg``: each site runs its task, keeps its contribution and
   answers with a signed advertisement of fresh X25519 keys and the layout (names, shapes)
   of its contribution — the site-level metrics travel in clear, the arrays do not;
B. ``secagg.share``: every site gets the advertisements and returns Shamir shares of its
   secrets, encrypted for each neighbour;
C. ``secagg.mask``: every site gets the shares addressed to it and returns its masked,
   quantised contribution (uniform noise to anyone without the masks);
D. ``secagg.consistency``: every survivor gets the one survivor list (who sent a masked
   input, who dropped after B) and returns its Ed25519 signature over it;
E. ``secagg.unmask``: every signer gets the list and all the signatures; each checks at
   least t of them over the list it signed itself, then returns the shares that let the
   hub remove the masks of survivors and of the sites that dropped out after B.

The result is the same :class:`WeightedSum` plain summation gives (to the quantisation
error of :class:`~accord.crypto.secagg.Quantizer`, 2^-41 per value and site at the
defaults), so any strategy that aggregates a weighted sum runs unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence

from accord.core import AggregationError, TransportError, new_id
from accord.crypto.secagg import Advertisement, SecAggServer, unpack_bytes_map
from accord.fl._aggregation import WeightedSum
from accord.fl._contribution import Layout, unflatten
from accord.fl._plan import Plan, round_secagg
from accord.net import Reply, Task, TaskKind

__all__ = ["Exchange", "secure_round"]

Exchange = Callable[[int, Sequence[Task]], dict[str, Reply]]
"""Posts one round's tasks and returns the successful replies by site (``Hub.exchange``)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _task(plan: Plan, rnd: int, site: str, kind: TaskKind, document: str) -> Task:
    return Task.build(
        task_id=new_id("task"),
        plan_id=plan.plan_id,
        round=rnd,
        site=site,
        kind=kind,
        config=plan.config.to_wire(),
        document=document,
    )


def _decoded(site: str, text: object, phase: str) -> bytes:
    """Base64 from a site's ``phase`` reply; AggregationError naming the site otherwise."""
    if isinstance(text, str):
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise AggregationError(f"site '{site}' sent a malformed {phase} reply (expected base64)")


def _sealed(site: str, document: str, phase: str) -> dict[str, bytes]:
    """A site's ``{name: base64}`` reply document, decoded (bounded parsing: a site may
    be hostile); AggregationError naming the site for anything else."""
    try:
        return unpack_bytes_map(document.encode("utf-8"))
    except TransportError as exc:
        raise AggregationError(f"site '{site}' sent a malformed {phase} reply: {exc}") from None


def _advert(site: str, document: str) -> Advertisement:
    try:
        return Advertisement.from_bytes(_decoded(site, document, "advertisement"))
    except TransportError as exc:
        raise AggregationError(f"site '{site}' sent a malformed advertisement: {exc}") from None


def _layout(replies: Mapping[str, Reply]) -> Layout:
    layouts = {tuple(r.labels.get("layout", ())) for r in replies.values()}
    if len(layouts) != 1:
        raise AggregationError("sites returned contributions of different layouts")
    return Layout.from_labels(next(iter(layouts)))


def secure_round(
    exchange: Exchange, plan: Plan, rnd: int, tasks: Sequence[Task]
) -> tuple[WeightedSum, dict[str, Reply]]:
    """Run ``tasks`` of ``plan`` under secure aggregation; returns the sum and the phase-A
    replies. ``plan.secure`` gives the settings."""
    if plan.secure is None:
        raise AggregationError(f"plan {plan.plan_id} does not run secure aggregation")
    if len(tasks) < 2:
        raise AggregationError("secure aggregation needs at least two contributing sites")
    secagg = round_secagg([t.site for t in tasks], plan.secure)
    common = secagg.to_wire()
    first = [t.model_copy(update={"config": {**t.config, **common}}) for t in tasks]
    replies = exchange(rnd, first)
    layout = _layout(replies)
    server = SecAggServer(secagg.secagg_config(plan.plan_id, rnd, layout.length))
    adverts = {s: _advert(s, r.document) for s, r in replies.items()}
    forwarded = server.collect_adverts(adverts)
    doc = json.dumps({s: _b64(a.to_bytes()) for s, a in forwarded.items()})
    shared = exchange(rnd, [_task(plan, rnd, s, "secagg.share", doc) for s in forwarded])
    outgoing = {s: _sealed(s, r.document, "secagg.share") for s, r in shared.items()}
    routed = server.route_shares(outgoing)
    mask_tasks = [
        _task(plan, rnd, s, "secagg.mask", json.dumps({f: _b64(b) for f, b in shares.items()}))
        for s, shares in routed.items()
    ]
    masked = exchange(rnd, mask_tasks)
    server.collect_masked({s: r.arrays["masked"] for s, r in masked.items()})
    listed = server.survivor_list()
    doc = listed.to_bytes().decode("utf-8")
    signed = exchange(
        rnd, [_task(plan, rnd, s, "secagg.consistency", doc) for s in listed.survivors]
    )
    request = server.collect_signatures(
        {s: _decoded(s, r.document, "secagg.consistency") for s, r in signed.items()}
    )
    doc = request.to_bytes().decode("utf-8")
    unmasked = exchange(
        rnd, [_task(plan, rnd, s, "secagg.unmask", doc) for s in request.signatures]
    )
    total = server.finalize(
        {s: _sealed(s, r.document, "secagg.unmask") for s, r in unmasked.items()}
    )
    arrays, weight, counts = unflatten(total, layout)
    n = len(listed.survivors)
    resolution = n * 2.0 ** -(plan.secure.fraction_bits + 1)  # each site rounds to 2^-F
    return WeightedSum(arrays, weight, n, counts, resolution), replies
