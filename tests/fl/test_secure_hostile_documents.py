"""Secure aggregation under hostile documents: refused by name, never a crash.

A site's reply documents (its advertisement, its sealed shares, its signature over the
survivor list, its unmasking shares) are JSON or base64 that the hub decodes; the hub's
task documents (the advertisements, the shares addressed to a site) are decoded by the
site. Either side may send JSON nested 100,000 deep, a list, numbers, or text that is
not base64. The hub then fails the round with an AggregationError naming the site (what
its round loop handles); a site refuses the task and closes the round.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from accord.core import AggregationError
from accord.fl import secure_round
from accord.net import Reply, Task, TaskKind
from tests.fl.test_secure_site import SITES, VICTIM, Consortium, _refused, _round

HOSTILE = {
    "deep": "[" * 100_000 + "]" * 100_000,
    "a list": "[1, 2]",
    "numbers": '{"hospital_1": 5}',
    "not base64": '{"hospital_1": "!!!"}',
    "not json": "{",
    "huge int": '{"hospital_1": 1' + "0" * 30 + "}",
}
PHASES = ["newton", "secagg.share", "secagg.consistency", "secagg.unmask"]


@pytest.mark.parametrize("document", sorted(HOSTILE))
@pytest.mark.parametrize("phase", PHASES)
def test_a_hostile_document_fails_the_round_naming_the_site(phase: str, document: str) -> None:
    consortium = Consortium()
    liar = SITES[1]

    def exchange(rnd: int, tasks: Sequence[Task]) -> dict[str, Reply]:
        replies = consortium.hub.exchange(rnd, tasks)
        if tasks[0].kind == phase:
            replies[liar] = replies[liar].model_copy(update={"document": HOSTILE[document]})
        return replies

    tasks = consortium.hub.tasks(consortium.plan, "newton", 0)
    with pytest.raises(AggregationError, match=f"site '{liar}' sent a malformed"):
        secure_round(exchange, consortium.plan, 0, tasks)


@pytest.mark.parametrize("document", sorted(HOSTILE))
@pytest.mark.parametrize("kind", ["secagg.share", "secagg.mask"])
def test_a_hostile_hub_document_is_refused_by_the_site(kind: TaskKind, document: str) -> None:
    consortium = Consortium()
    assert consortium.answer(consortium.task(VICTIM, "newton", _round())).status == "ok"
    if kind == "secagg.mask":  # reach the mask phase with an honest share phase
        consortium.sites[VICTIM].context.state["secagg"][("plan-1", 0)].phase += 1
    reply = consortium.answer(consortium.task(VICTIM, kind, document=HOSTILE[document]))
    _refused(reply, "secagg byte map")
    assert not consortium.sites[VICTIM].context.state["secagg"]  # the round is closed
