"""Secure aggregation, site side: a middleware that masks the site's contribution.

For a task marked ``secagg`` (:class:`~accord.fl._task_config.SecAggRound`) the site runs
its handler as usual, keeps the contribution (arrays, weight, counts) in memory and
answers with a signed key advertisement; the later ``secagg.*`` tasks of the same (plan,
round) exchange shares, send the masked vector, sign the survivor list and help unmask.
The plain contribution never leaves the site. See ``accord.fl._secure``.

The ``secagg.*`` follow-ups must belong to an open round of this site, in phase order
(share, mask, consistency, unmask); one that fails a privacy check ends the round with a
:class:`PolicyError` (a ``refused`` reply and, with a ledger, a signed ``task.refused``).
A new task for a (plan, round) that is still open replaces it (fresh keys, the old secrets
dropped): a restarted hub runs its round again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from accord.core import PolicyError, PrivacyError, Signer
from accord.crypto.secagg import Advertisement, SecAggClient, SurvivorList, UnmaskRequest
from accord.fl._contribution import flatten
from accord.fl._site import Handler, Middleware, SiteContext
from accord.fl._task_config import TaskConfig
from accord.net import Reply, Task, TaskKind

__all__ = ["secure_aggregation_middleware"]

STATE = "secagg"

_PHASES: tuple[TaskKind, ...] = (
    "secagg.share",
    "secagg.mask",
    "secagg.consistency",
    "secagg.unmask",
)


@dataclass
class _Session:
    """One open secure round at this site: its client, the plain vector, the next phase."""

    client: SecAggClient
    vector: np.ndarray
    phase: int = 0  # index into _PHASES


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
        sessions: dict[tuple[str, int], _Session] = ctx.state.setdefault(STATE, {})
        if task.kind.startswith("secagg."):
            return _continue(task, sessions, public_key_of)
        secagg = TaskConfig.of(task).secagg
        if secagg is None:
            return handler(task, ctx)
        reply = handler(task, ctx)
        vector, layout = flatten(reply.arrays, reply.weight, reply.counts)
        client = SecAggClient(
            secagg.secagg_config(task.plan_id, task.round, layout.length), ctx.site, signer
        )
        sessions[(task.plan_id, task.round)] = _Session(client, vector)
        advert = client.advertise()
        return _reply(
            task,
            metrics=reply.metrics,
            labels={"layout": layout.to_labels()},
            document=_b64(advert.to_bytes()),
        )

    return middleware


def _continue(
    task: Task, sessions: dict[tuple[str, int], _Session], public_key_of: Callable[[str], bytes]
) -> Reply:
    key = (task.plan_id, task.round)
    session = sessions.get(key)
    if session is None:
        raise PolicyError(f"no secure-aggregation round {task.round} of this plan is open here")
    expected = _PHASES[session.phase]
    if task.kind != expected:
        raise PolicyError(
            f"secure-aggregation round {task.round}: expected '{expected}', not '{task.kind}'"
        )
    try:
        reply = _step(task, session, public_key_of)
    except PrivacyError as exc:  # the hub or a peer misbehaved: refuse, and end the round
        del sessions[key]
        raise PolicyError(str(exc)) from None
    session.phase += 1
    if session.phase == len(_PHASES):
        del sessions[key]  # secrets of this round are no longer needed
    return reply


def _step(task: Task, session: _Session, public_key_of: Callable[[str], bytes]) -> Reply:
    client = session.client
    if task.kind == "secagg.share":
        doc = json.loads(task.document)
        adverts = {s: Advertisement.from_bytes(base64.b64decode(v)) for s, v in doc.items()}
        out = client.share_keys(adverts, public_key_of)
        return _reply(task, document=json.dumps({to: _b64(b) for to, b in out.items()}))
    if task.kind == "secagg.mask":
        shares = {s: base64.b64decode(v) for s, v in json.loads(task.document).items()}
        return _reply(task, arrays={"masked": client.masked_input(session.vector, shares)})
    if task.kind == "secagg.consistency":
        signature = client.consistency(SurvivorList.from_bytes(task.document.encode("utf-8")))
        return _reply(task, document=_b64(signature))
    request = UnmaskRequest.from_bytes(task.document.encode("utf-8"))
    shares_out = client.unmask(request, public_key_of)
    return _reply(task, document=json.dumps({s: _b64(b) for s, b in shares_out.items()}))
