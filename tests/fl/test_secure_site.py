"""The site's secure-aggregation middleware against a hub that lies (issue #13).

Sites take every secure-aggregation setting from the signed plan (``expect``), never from
a task; they enforce a threshold floor and the consistency round whatever the plan says.
Each refusal is a ``refused`` reply (and, with a ledger, a signed ``task.refused``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from accord.core import new_id
from accord.crypto import Identity, new_identity
from accord.crypto.secagg import Advertisement, SecAggServer, SurvivorList, UnmaskRequest
from accord.crypto.secagg._messages import session_digest
from accord.fl import (
    Handler,
    Hub,
    InMemoryTransport,
    LedgerRecorder,
    Plan,
    SecAggRound,
    SecureSettings,
    Site,
    SiteContext,
    expect_from_plans,
    round_secagg,
    secure_aggregation_middleware,
    secure_round,
)
from accord.fl._contribution import Layout
from accord.fl._secure_site import CONTRIBUTING
from accord.fl.strategies import SiteInfo
from accord.ledger import Entry, HubLedger, SQLiteLedgerStore, genesis_payload
from accord.net import Reply, Task, TaskKind
from accord.survival import concordance_counts, cox_derivatives

SITES = tuple(f"hospital_{i}" for i in range(5))
VICTIM, COLLUDER = SITES[0], SITES[4]


def _contribution(site: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SITES.index(site))  # test data only
    return {"gradient": rng.normal(0, 1e3, 3), "hessian": rng.normal(0, 1e5, (3, 3))}


def _handler(task: Task, ctx: SiteContext) -> Reply:
    """A site's summed reply: derivatives, a weight and a count."""
    return Reply.build(
        task_id=task.task_id,
        site=task.site,
        kind=task.kind,
        arrays=_contribution(ctx.site),
        weight=1.0,
        counts={"n": 100 + SITES.index(ctx.site)},
    )


class Consortium:
    """Five sites behind the secure-aggregation middleware, a plan, and a hub."""

    def __init__(
        self,
        *,
        governed: bool = True,
        clear: bool = False,
        recorder_dir: Path | None = None,
        handler: Handler = _handler,
    ) -> None:
        self.handler = handler
        self.ids: dict[str, Identity] = {s: new_identity(s) for s in SITES}
        self.plan = Plan(
            "plan-1",
            "newton",
            tuple(SiteInfo(s, 100) for s in SITES),
            secure=None if clear else SecureSettings(),
        )
        expect = expect_from_plans([self.plan]) if governed else None
        self.ledger: HubLedger | None = None
        self.sites = {s: self._site(s, expect, recorder_dir) for s in SITES}
        self.hub = Hub(InMemoryTransport(self.sites))

    def _site(self, name: str, expect: object, recorder_dir: Path | None) -> Site:
        chain = [
            secure_aggregation_middleware(
                self.ids[name],
                self.public_key_of,
                expect=expect,  # type: ignore[arg-type]
            )
        ]
        if recorder_dir is not None:
            chain.insert(0, self._recorder(recorder_dir).middleware(self.ids[name]))
        handlers = dict.fromkeys(CONTRIBUTING, self.handler)
        rows = SimpleNamespace(n=100, n_train=100, n_test=0)  # sizes only: no rows needed
        context = SiteContext(name, rows, None, 0)  # type: ignore[arg-type]
        return Site(context, handlers, chain)

    def _recorder(self, folder: Path) -> LedgerRecorder:
        if self.ledger is None:
            hub = new_identity("hub")
            orgs = [hub.public.to_dict(), *(i.public.to_dict() for i in self.ids.values())]
            store = SQLiteLedgerStore(folder / "ledger.sqlite")
            self.ledger = HubLedger.create(store, hub, "log-t", genesis_payload("t", "hub", orgs))
            self._hub_key = hub
        return LedgerRecorder(self.ledger, self._hub_key)

    def public_key_of(self, org: str) -> bytes:
        return self.ids[org].public.public_key

    def task(
        self, site: str, kind: TaskKind, secagg: SecAggRound | None = None, document: str = ""
    ) -> Task:
        config = self.plan.config.to_wire() | (secagg.to_wire() if secagg else {})
        return Task.build(
            task_id=new_id("task"),
            plan_id=self.plan.plan_id,
            round=0,
            site=site,
            kind=kind,
            config=config,
            document=document,
        )

    def answer(self, task: Task) -> Reply:
        return Reply.from_wire(self.sites[task.site].handle(task).to_wire())

    def plain_total(self) -> dict[str, np.ndarray]:
        parts = [_contribution(s) for s in SITES]
        return {k: sum(p[k] for p in parts) for k in parts[0]}  # type: ignore[misc]

    def refused_reasons(self) -> dict[str, str]:
        assert self.ledger is not None
        entries = [Entry.parse(e.entry) for e in self.ledger.store.read()]
        return {e.org: e.payload["reason"] for e in entries if e.kind == "task.refused"}


def _round(**changes: object) -> SecAggRound:
    return round_secagg(SITES, SecureSettings()).model_copy(update=changes)


def _refused(reply: Reply, match: str) -> None:
    assert reply.status == "refused", reply.error
    assert reply.error.startswith("PolicyError: ") and match in reply.error, reply.error
    assert reply.arrays == {} and reply.document == ""


# --- an honest hub -----------------------------------------------------------------------


@pytest.mark.parametrize("governed", [True, False])
def test_an_honest_secure_round_sums_exactly(governed: bool) -> None:
    consortium = Consortium(governed=governed)
    replies, total = consortium.hub.summed(consortium.plan, "newton", 0)
    assert set(replies) == set(SITES) and total.count == 5
    for name, plain in consortium.plain_total().items():
        np.testing.assert_allclose(total.arrays[name], plain, atol=1e-9, rtol=0)
    assert total.counts == {"n": sum(100 + i for i in range(5))} and total.weight == 5.0
    assert all(not s.context.state["secagg"] for s in consortium.sites.values())  # closed


def test_a_site_that_drops_after_masking_is_still_in_the_sum_when_t_sign() -> None:
    consortium = Consortium()

    def exchange(rnd: int, tasks: Sequence[Task]) -> dict[str, Reply]:
        if tasks[0].kind == "secagg.consistency":  # hospital_4 goes offline after masking
            tasks = [t for t in tasks if t.site != COLLUDER]
        return consortium.hub.exchange(rnd, tasks)

    tasks = consortium.hub.tasks(consortium.plan, "newton", 0)
    total, _ = secure_round(exchange, consortium.plan, 0, tasks)
    assert total.count == 5  # its masked input was summed: the others unmask it
    np.testing.assert_allclose(
        total.arrays["hessian"], consortium.plain_total()["hessian"], atol=1e-9, rtol=0
    )


def _large_site(site: str) -> dict[str, np.ndarray]:
    """Cox derivatives and evaluation pair counts of a generated 10⁵-patient site."""
    rng = np.random.default_rng(100 + SITES.index(site))  # test data only
    n = 100_000
    x = rng.normal(size=(n, 4))
    time_days = rng.exponential(365.0, n)
    event = rng.random(n) < 0.7
    beta = np.array([0.3, -0.2, 0.1, 0.5])
    d = cox_derivatives(x, time_days, event, beta)
    pairs = concordance_counts(time_days, event, x @ beta)
    return {
        "loglik": np.array([d.loglik]),
        "gradient": d.gradient,
        "hessian": d.hessian,
        "pairs": np.array([pairs.concordant, pairs.discordant, float(pairs.comparable)]),
    }


def test_cox_derivatives_and_pair_counts_of_large_sites_sum_exactly() -> None:
    """Five sites of 10⁵ patients (Hessian entries ~7e4, log-likelihoods ~-7e5, pair
    counts ~1.7e9 each, ~1.7e10 summed): the secure sum equals the plain sum to 1e-6,
    and the pair counts (integers in float64) exactly."""
    large = {s: _large_site(s) for s in SITES}

    def handler(task: Task, ctx: SiteContext) -> Reply:
        arrays = large[ctx.site]
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, arrays=arrays)

    consortium = Consortium(handler=handler)
    _, total = consortium.hub.summed(consortium.plan, "newton", 0)
    for name in large[VICTIM]:
        plain = sum(large[s][name] for s in SITES)
        np.testing.assert_allclose(total.arrays[name], plain, atol=1e-6, rtol=0)
    assert np.array_equal(total.arrays["pairs"], sum(large[s]["pairs"] for s in SITES))
    assert total.arrays["pairs"].max() > 1e10


# --- the hub switches secure aggregation off or changes its settings ----------------------


@pytest.mark.parametrize("kind", sorted(CONTRIBUTING))
def test_malicious_hub_contributing_task_in_clear_under_a_secure_plan_is_refused(
    kind: TaskKind,
) -> None:
    consortium = Consortium()
    _refused(consortium.answer(consortium.task(VICTIM, kind)), "refusing to answer task")


def test_without_governance_a_task_in_clear_is_answered_in_clear() -> None:
    consortium = Consortium(governed=False)
    assert consortium.answer(consortium.task(VICTIM, "newton")).status == "ok"


def test_malicious_hub_round_announcing_a_subset_of_the_plans_sites_is_refused() -> None:
    consortium = Consortium()
    subset = round_secagg(SITES[:3], SecureSettings())
    reply = consortium.answer(consortium.task(VICTIM, "newton", subset))
    _refused(reply, "the round invites 3 of the signed plan's 5 sites")
    shuffled = _round(sites=SITES[::-1])
    _refused(consortium.answer(consortium.task(VICTIM, "newton", shuffled)), "in its order")


@pytest.mark.parametrize("threshold", [2, 3])
@pytest.mark.parametrize("governed", [True, False])
def test_malicious_hub_low_threshold_is_refused(threshold: int, governed: bool) -> None:
    """t = 2 of 5 (and 3 of 5, the old default the survivor-list attack needed): below
    the signed plan's 4 and below the floor ceil(2·5/3) = 4 that every site keeps."""
    consortium = Consortium(governed=governed)
    reply = consortium.answer(consortium.task(VICTIM, "newton", _round(threshold=threshold)))
    if governed:
        _refused(reply, f"threshold {threshold} is below the signed plan's 4")
    else:
        _refused(reply, f"threshold {threshold} is below 4, two thirds of each site's")


def test_a_higher_threshold_than_the_plans_is_accepted() -> None:
    consortium = Consortium()
    reply = consortium.answer(consortium.task(VICTIM, "newton", _round(threshold=5)))
    assert reply.status == "ok" and reply.document  # an advertisement


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"neighbours": 2}, "neighbour count k"),
        ({"clip": 1e4}, "clip"),
        ({"fraction_bits": 16}, "fraction bits"),
    ],
)
def test_malicious_hub_settings_other_than_the_plans_are_refused(
    changes: dict[str, object], named: str
) -> None:
    consortium = Consortium()
    reply = consortium.answer(consortium.task(VICTIM, "newton", _round(**changes)))
    _refused(reply, f"the round's {named} differs from the signed plan's")


def test_malicious_hub_secure_round_for_a_plan_that_sums_in_clear_is_refused() -> None:
    consortium = Consortium(clear=True)
    _refused(consortium.answer(consortium.task(VICTIM, "newton", _round())), "sums in clear")


def test_malicious_hub_task_of_an_unknown_plan_is_refused() -> None:
    consortium = Consortium()
    task = consortium.task(VICTIM, "newton", _round()).model_copy(update={"plan_id": "p-9"})
    _refused(consortium.answer(task), "plan p-9 is not a plan this site knows")


def test_a_secure_round_on_a_task_that_is_not_summed_is_refused() -> None:
    consortium = Consortium(governed=False)
    _refused(consortium.answer(consortium.task(VICTIM, "setup", _round())), "is not summed")


@pytest.mark.parametrize("kind", ["secagg.mask", "secagg.consistency", "secagg.unmask"])
def test_malicious_hub_follow_up_out_of_phase_order_is_refused(kind: TaskKind) -> None:
    consortium = Consortium()
    assert consortium.answer(consortium.task(VICTIM, "newton", _round())).status == "ok"
    _refused(
        consortium.answer(consortium.task(VICTIM, kind, document="{}")), "expected 'secagg.share'"
    )


def test_malicious_hub_follow_up_of_no_open_round_is_refused() -> None:
    consortium = Consortium()
    _refused(consortium.answer(consortium.task(VICTIM, "secagg.share", document="{}")), "no secure")


# --- values the ring cannot hold fail loudly ------------------------------------------------


@pytest.mark.parametrize(("value", "problem"), [(3e12, "outside ±1e+12"), (np.inf, "not finite")])
def test_a_value_that_cannot_be_encoded_fails_naming_the_array(value: float, problem: str) -> None:
    consortium = Consortium()

    def handler(task: Task, ctx: SiteContext) -> Reply:
        arrays = {"gradient": np.array([1.0, value, 2.0]), "hessian": np.eye(3)}
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, arrays=arrays)

    site = consortium.sites[VICTIM]
    site._handlers["newton"] = handler
    reply = consortium.answer(consortium.task(VICTIM, "newton", _round()))
    assert reply.status == "failed"
    assert reply.error.startswith("AggregationError: secagg: array 'gradient' has 1 of 3 values")
    assert problem in reply.error and "3000000000000" not in reply.error


# --- the hub shows different survivor lists, with a colluding site ----------------------


def _phase(consortium: Consortium, kind: TaskKind, documents: dict[str, str]) -> dict[str, Reply]:
    return {
        s: consortium.answer(consortium.task(s, kind, document=d)) for s, d in documents.items()
    }


def _masked_round(consortium: Consortium) -> tuple[SecAggServer, bytes]:
    """Phases A to C run honestly; the server (the hub's bookkeeping) and the session."""
    secagg = _round()
    first = {s: consortium.answer(consortium.task(s, "newton", secagg)) for s in SITES}
    adverts = {s: Advertisement.from_bytes(base64.b64decode(r.document)) for s, r in first.items()}
    length = Layout.from_labels(first[VICTIM].labels["layout"]).length
    server = SecAggServer(secagg.secagg_config(consortium.plan.plan_id, 0, length))
    forwarded = server.collect_adverts(adverts)
    doc = json.dumps({s: base64.b64encode(a.to_bytes()).decode() for s, a in forwarded.items()})
    shared = _phase(consortium, "secagg.share", dict.fromkeys(SITES, doc))
    routed = server.route_shares(
        {
            s: {j: base64.b64decode(v) for j, v in json.loads(r.document).items()}
            for s, r in shared.items()
        }
    )
    docs = {
        s: json.dumps({j: base64.b64encode(b).decode() for j, b in m.items()})
        for s, m in routed.items()
    }
    masked = _phase(consortium, "secagg.mask", docs)
    server.collect_masked({s: r.arrays["masked"] for s, r in masked.items()})
    return server, session_digest(forwarded)


def test_malicious_hub_inconsistent_survivor_lists_with_a_colluder_are_refused(
    tmp_path: Path,
) -> None:
    """The attack of issue #13 through the sites' middleware and ledger: hospital_0 and
    hospital_1 hear "everyone survived", hospital_2 and hospital_3 "hospital_0 dropped";
    the colluding hospital_4 signs both. Each honest site sees 3 signatures over its own
    list (t = 4): all four refuse before revealing a share, each in a signed entry."""
    consortium = Consortium(recorder_dir=tmp_path)
    server, session = _masked_round(consortium)
    everyone = server.survivor_list()
    without = SurvivorList(everyone.plan, 0, SITES[1:], (VICTIM,))
    groups = {everyone: SITES[:2], without: SITES[2:4]}
    requests = {}
    for listed, group in groups.items():
        signed = _phase(
            consortium, "secagg.consistency", dict.fromkeys(group, listed.to_bytes().decode())
        )
        signatures = {s: base64.b64decode(r.document) for s, r in signed.items()}
        signatures[COLLUDER] = consortium.ids[COLLUDER].sign(listed.signed_bytes(session))
        request = UnmaskRequest(listed.plan, 0, listed.survivors, listed.dropped, signatures)
        requests |= dict.fromkeys(group, request.to_bytes().decode())
    for site, reply in _phase(consortium, "secagg.unmask", requests).items():
        _refused(reply, "3 survivors signed the survivor list; the threshold is 4")
        assert not consortium.sites[site].context.state["secagg"]  # the round is over for it
    reasons = consortium.refused_reasons()
    assert set(reasons) == set(SITES[:4])
    assert all("3 survivors signed the survivor list" in r for r in reasons.values())


def test_malicious_hub_forged_consistency_signature_is_refused_through_the_middleware() -> None:
    consortium = Consortium()
    server, _ = _masked_round(consortium)
    listed = server.survivor_list()
    signed = _phase(
        consortium, "secagg.consistency", dict.fromkeys(SITES, listed.to_bytes().decode())
    )
    request = server.collect_signatures(
        {s: base64.b64decode(r.document) for s, r in signed.items()}
    )
    forged = dict(request.signatures)
    forged[COLLUDER] = forged[SITES[1]]
    bad = UnmaskRequest(listed.plan, 0, listed.survivors, listed.dropped, forged)
    reply = consortium.answer(
        consortium.task(VICTIM, "secagg.unmask", document=bad.to_bytes().decode())
    )
    _refused(reply, f"consistency signature of {COLLUDER} fails verification")
