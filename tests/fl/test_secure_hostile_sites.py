"""The hub's secure round under a hostile site: a malformed document is an AggregationError
naming the site, never a crash of the hub's round loop.

A site's reply documents (its advertisement, its sealed shares, its signature over the
survivor list, its unmasking shares) are JSON or base64 that the hub decodes. A hostile
site may send JSON nested 100,000 deep, a list, numbers, or text that is not base64; the
hub must refuse the round with the error its round loop handles, naming the site.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from accord.core import AggregationError
from accord.fl import secure_round
from accord.net import Reply, Task
from tests.fl.test_secure_site import SITES, Consortium

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
