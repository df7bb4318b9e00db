"""Secure aggregation, site side: a middleware that masks the site's contribution.

For a task marked ``secagg`` (:class:`~accord.fl._task_config.SecAggRound`) the site runs
its handler as usual, keeps the contribution (arrays, weight, counts) in memory and
answers with a signed key advertisement; the later ``secagg.*`` tasks of the same (plan,
round) exchange shares, send the masked vector, sign the survivor list and help unmask.
The plain contribution never leaves the site. See ``accord.fl._secure``.

The hub is not trusted, so the site decides, never the task (a :class:`PolicyError`
becomes a ``refused`` reply and, with a ledger, a signed ``task.refused`` entry):

* a *contributing* task (:data:`CONTRIBUTING`: its reply is summed) of a plan that the
  site's ``expect`` says is secure must carry a secure-aggregation round, and that round
  must be the signed plan's: its sites the plan's sites in the plan's order, its k, clip
  and fraction bits those the plan's :class:`~accord.fl.SecureSettings` give for them
  (as :func:`~accord.fl.round_secagg` computes them), its threshold no lower; a plan that
  sums in clear gets no secure round (the masks would hide nothing the site agreed to);
* whatever the expectation (also without one, for a site with no governance, which then
  answers in clear when the hub asks so), the threshold is at least the floor
  ``ceil(2h/3)`` of the h share holders (:func:`~accord.crypto.secagg.threshold_floor`),
  and the site reveals shares only after the consistency round (t signatures over the
  survivor list it signed itself);
* the ``secagg.*`` follow-ups must belong to an open round of this site, in phase order
  (share, mask, consistency, unmask); one that fails a privacy check ends the round.

A new contributing task for a (plan, round) that is still open replaces it (fresh keys,
the old secrets dropped): a restarted hub runs its round again. Not defended here: a hub
that runs a round twice on the same contribution (or sends the same model in two rounds)
and leaves a different site out of each can subtract the two sums; each run is secure on
its own, and a site does not remember what it contributed before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from accord.core import AggregationError, PolicyError, PrivacyError, Signer, TransportError
from accord.crypto.secagg import (
    Advertisement,
    SecAggClient,
    SurvivorList,
    UnmaskRequest,
    threshold_floor,
    unpack_bytes_map,
)
from accord.fl._contribution import flatten
from accord.fl._plan import ExpectSecure, SecurePlan, round_secagg
from accord.fl._site import Handler, Middleware, SiteContext
from accord.fl._task_config import SecAggRound, TaskConfig
from accord.net import Reply, Task, TaskKind

__all__ = ["CONTRIBUTING", "secure_aggregation_middleware"]

STATE = "secagg"
CONTRIBUTING: frozenset[TaskKind] = frozenset(
    {
        "stats",
        "tile_stats",
        "train",
        "newton",
        "evaluate",
        "local_baseline",
        "risk_summary",
        "km_counts",
    }
)
"""Task kinds whose replies the hub sums: the ones secure aggregation applies to."""

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
    signer: Signer,
    public_key_of: Callable[[str], bytes],
    *,
    expect: ExpectSecure | None = None,
) -> Middleware:
    """The secure-aggregation middleware of one site.

    ``public_key_of(org)``: the raw Ed25519 key the site trusts for ``org`` (the ledger's);
    ``expect(task, ctx)``: what the *signed* plan of ``task`` says of its secure rounds
    (None: it sums in clear); without ``expect`` the site follows the task on whether a
    round is secure, and still applies the threshold floor and the consistency round.
    """

    def middleware(task: Task, ctx: SiteContext, handler: Handler) -> Reply:
        sessions: dict[tuple[str, int], _Session] = ctx.state.setdefault(STATE, {})
        if task.kind.startswith("secagg."):
            return _continue(task, sessions, public_key_of)
        secagg = TaskConfig.of(task).secagg
        _check_round(task, ctx, secagg, expect)
        if secagg is None:
            return handler(task, ctx)
        reply = handler(task, ctx)
        _check_range(reply, secagg.clip)
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


def _check_round(
    task: Task, ctx: SiteContext, secagg: SecAggRound | None, expect: ExpectSecure | None
) -> None:
    """:class:`PolicyError` unless ``task``'s secure-aggregation round (or its absence) is
    what this site accepts; see the module docstring for the rules."""
    if task.kind not in CONTRIBUTING:
        if secagg is not None:
            raise PolicyError(f"task '{task.kind}' is not summed; refusing its secure round")
        return
    if expect is not None:
        plan = expect(task, ctx)
        if plan is not None and secagg is None:
            raise PolicyError(
                f"the signed plan runs secure aggregation; refusing to answer task "
                f"'{task.kind}' in clear"
            )
        if plan is None and secagg is not None:
            raise PolicyError(
                "the signed plan sums in clear; refusing a secure-aggregation round it "
                "does not declare"
            )
        if plan is not None and secagg is not None:
            _check_against_plan(secagg, plan)
    if secagg is not None:
        _check_floor(ctx.site, secagg)


def _check_against_plan(secagg: SecAggRound, plan: SecurePlan) -> None:
    """The round is the one the signed plan gives for its sites (any graph seed)."""
    if secagg.sites != plan.sites:
        if set(secagg.sites) < set(plan.sites):
            raise PolicyError(
                f"the round invites {len(secagg.sites)} of the signed plan's "
                f"{len(plan.sites)} sites"
            )
        raise PolicyError("the round's sites are not the signed plan's sites in its order")
    want = round_secagg(plan.sites, plan.settings, graph_seed=secagg.graph_seed)
    for field, label in (
        ("neighbours", "neighbour count k"),
        ("clip", "clip"),
        ("fraction_bits", "fraction bits"),
    ):
        if getattr(secagg, field) != getattr(want, field):
            raise PolicyError(f"the round's {label} differs from the signed plan's")
    if secagg.threshold < want.threshold:
        raise PolicyError(
            f"the round's threshold {secagg.threshold} is below the signed plan's {want.threshold}"
        )


def _check_floor(site: str, secagg: SecAggRound) -> None:
    if site not in secagg.sites:
        raise PolicyError(f"site '{site}' is not among the round's sites")
    floor = threshold_floor(len(secagg.sites), secagg.neighbours)
    if secagg.threshold < floor:
        raise PolicyError(
            f"the round's threshold {secagg.threshold} is below {floor}, two thirds of "
            "each site's share holders (the least this site accepts)"
        )


def _check_range(reply: Reply, clip: float) -> None:
    """:class:`AggregationError` naming the part and the count (never the values) when a
    value of the contribution cannot be encoded: not finite, or beyond the plan's clip."""
    parts: list[tuple[str, Any]] = [("weight", reply.weight)]
    parts += [(f"array '{name}'", reply.arrays[name]) for name in sorted(reply.arrays)]
    parts += [(f"count '{name}'", reply.counts[name]) for name in sorted(reply.counts)]
    for what, raw in parts:
        values = np.asarray(raw, dtype=np.float64)
        bad = int(np.count_nonzero(~np.isfinite(values)))
        over = int(np.count_nonzero(np.abs(values) > clip)) if not bad else 0
        if bad or over:
            problem = "not finite" if bad else f"outside ±{clip:g} (the plan's secagg_clip)"
            raise AggregationError(
                f"secagg: {what} has {bad or over} of {values.size} values {problem}; "
                "it cannot be securely summed"
            )


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
    except (PrivacyError, TransportError) as exc:  # the hub or a peer misbehaved (or sent
        del sessions[key]  # a malformed document): refuse, and end the round
        raise PolicyError(str(exc)) from None
    session.phase += 1
    if session.phase == len(_PHASES):
        del sessions[key]  # secrets of this round are no longer needed
    return reply


def _step(task: Task, session: _Session, public_key_of: Callable[[str], bytes]) -> Reply:
    client = session.client
    if task.kind == "secagg.share":
        doc = unpack_bytes_map(task.document.encode("utf-8"))
        adverts = {s: Advertisement.from_bytes(v) for s, v in doc.items()}
        out = client.share_keys(adverts, public_key_of)
        return _reply(task, document=json.dumps({to: _b64(b) for to, b in out.items()}))
    if task.kind == "secagg.mask":
        shares = unpack_bytes_map(task.document.encode("utf-8"))
        return _reply(task, arrays={"masked": client.masked_input(session.vector, shares)})
    if task.kind == "secagg.consistency":
        signature = client.consistency(SurvivorList.from_bytes(task.document.encode("utf-8")))
        return _reply(task, document=_b64(signature))
    request = UnmaskRequest.from_bytes(task.document.encode("utf-8"))
    shares_out = client.unmask(request, public_key_of)
    return _reply(task, document=json.dumps({s: _b64(b) for s, b in shares_out.items()}))
