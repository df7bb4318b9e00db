"""A researcher's signed study submission, and the hub's plans that carry it out.

In a deployed consortium the researcher signs one ``study.submitted`` entry from their own
machine; the long-running hub then runs the study's plans (preprocessing, the federated
method, its baselines) and signs each ``plan.submitted`` itself, citing the submission.
A site accepts such a plan as the researcher's only when it stays inside what the
researcher signed::

    study.submitted   any member   run (id), study, functions {method: hash}, seed,
                                   datasets [ids]
    study.finished    hub          run, status (finished | failed | rejected), reason
    plan.submitted    hub          ... as any plan, plus "submission": run; its function
                                   one of the submission's, its datasets among the
                                   submission's, its seed the submission's

The plan then counts as submitted by the researcher (permissions, revoked keys): the hub
can order a study's steps, never widen what the researcher asked or who may see it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from accord.fl.governance._fields import read_int, read_mapping, read_str, read_str_list, refuse
from accord.ledger import Entry

__all__ = [
    "STUDY_FINISHED",
    "STUDY_SUBMITTED",
    "Submission",
    "finished_from",
    "submission_from",
]

STUDY_SUBMITTED = "study.submitted"
STUDY_FINISHED = "study.finished"
FINISHED_STATES = ("finished", "failed", "rejected")


@dataclass(frozen=True)
class Submission:
    """A study a researcher submitted: the functions its plans may run, on which datasets.

    ``status`` is None while the hub has not signed the run's end.
    """

    run: str
    submitter: str
    key_id: str
    study: str
    functions: Mapping[str, str]  # method ("study" for the study itself) -> function hash
    seed: int
    datasets: tuple[str, ...]
    seq: int
    status: str | None = None
    reason: str = ""

    def allows(self, function: str, datasets: tuple[str, ...], seed: object) -> str | None:
        """Why a hub's plan of this run is outside it, or None when it is inside."""
        if function not in self.functions.values():
            return "its function is not one of the submission's"
        stray = sorted(set(datasets) - set(self.datasets))
        if stray:
            return f"dataset {stray[0]} is not one of the submission's"
        if seed != self.seed:
            return "its seed is not the submission's"
        return None


def submission_from(entry: Entry, registered: Mapping[str, object]) -> Submission:
    """Parse a ``study.submitted`` entry; its functions must be registered already."""
    functions = read_mapping(entry, "functions")
    if not functions:
        raise refuse(entry, "field 'functions' is empty")
    for method, digest in functions.items():
        if not isinstance(digest, str) or digest not in registered:
            raise refuse(entry, f"field 'functions.{method}' is not a registered function")
    return Submission(
        run=read_str(entry, "run"),
        submitter=entry.org,
        key_id=entry.key_id,
        study=read_str(entry, "study"),
        functions=dict(sorted(functions.items())),
        seed=read_int(entry, "seed", minimum=0),
        datasets=read_str_list(entry, "datasets", empty=False),
        seq=entry.seq,
    )


def finished_from(entry: Entry, hub: str | None) -> tuple[str, str, str]:
    """(run, status, reason) of a hub-signed ``study.finished`` entry."""
    if entry.org != hub:
        raise refuse(entry, f"signed by {entry.org}; only the hub ends a study run")
    status = read_str(entry, "status")
    if status not in FINISHED_STATES:
        raise refuse(entry, f"field 'status' is not one of {', '.join(FINISHED_STATES)}")
    reason = entry.payload.get("reason", "")
    if not isinstance(reason, str):
        raise refuse(entry, "field 'reason' is not a string")
    return read_str(entry, "run"), status, reason
