"""Secure aggregation, site side: a middleware that masks the site's contribution.

For a task marked ``secagg`` (:class:`~accord.fl._task_config.SecAggRound`) the site runs
its handler as usual, keeps the contribution (arrays, weight, counts) in memory and
answers with a signed key advertisement; the later ``secagg.*`` tasks of the same (plan,
round) exchange shares, send the masked vector and help unmask. The plain contribution
never leaves the site. See ``accord.fl._secure``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import numpy as np

from accord.core import PrivacyError, Signer
from accord.crypto.secagg import Advertisement, SecAggClient
from accord.fl._contribution import flatten
from accord.fl._site import Handler, Middleware, SiteContext
from accord.fl._task_config import TaskConfig
from accord.net import Reply, Task

__all__ = ["secure_aggregation_middleware"]

STATE = "secagg"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _reply(task: Task, arrays: dict[str, np.ndarray] | None = None, **fields: object) -> Reply:
    return Reply.build(
        arrays=arrays, task_id=task.task_id, site=task.site, kind=task.kind, **fields
    )


def secure_aggregation_middleware(
    signer: Signer, public_key_of: Callable[[str], bytes]
) -> Middleware:
    """``public_key_of(org)``: the raw Ed25519 key the site trusts for ``org`` (the ledger's)."""

    def middleware(task: Task, ctx: SiteContext, handler: Handler) -> Reply:
        rounds = ctx.state.setdefault(STATE, {})
        key = (task.plan_id, task.round)
        if task.kind.startswith("secagg."):
            if key not in rounds:
                raise PrivacyError(f"no secure-aggregation round {task.round} of this plan here")
            return _continue(task, rounds, key, public_key_of)
        secagg = TaskConfig.of(task).secagg
        if secagg is None:
            return handler(task, ctx)
        reply = handler(task, ctx)
        vector, layout = flatten(reply.arrays, reply.weight, reply.counts)
        client = SecAggClient(
            secagg.secagg_config(task.plan_id, task.round, layout.length), ctx.site, signer
        )
        rounds[key] = (client, vector)
        advert = client.advertise()
        return _reply(
            task,
            metrics=reply.metrics,
            labels={"layout": layout.to_labels()},
            document=_b64(advert.to_bytes()),
        )

    return middleware


def _continue(
    task: Task,
    rounds: dict[tuple[str, int], tuple[SecAggClient, object]],
    key: tuple[str, int],
    public_key_of: Callable[[str], bytes],
) -> Reply:
    client, vector = rounds[key]
    doc = json.loads(task.document)
    if task.kind == "secagg.share":
        adverts = {s: Advertisement.from_bytes(base64.b64decode(v)) for s, v in doc.items()}
        out = client.share_keys(adverts, public_key_of)
        return _reply(task, document=json.dumps({to: _b64(b) for to, b in out.items()}))
    if task.kind == "secagg.mask":
        shares = {s: base64.b64decode(v) for s, v in doc.items()}
        masked = client.masked_input(vector, shares)  # type: ignore[arg-type]
        return _reply(task, arrays={"masked": masked})
    shares_out = client.unmask(doc["survivors"], doc["dropped"])
    del rounds[key]  # secrets of this round are no longer needed
    return _reply(task, document=json.dumps({s: _b64(b) for s, b in shares_out.items()}))
