"""Who may process a dataset and who may download a model trained on several.

A model carries what it learnt from every dataset it was trained on, so it may go only to
organisations allowed on *all* of them: its permissions are the intersection of its
datasets' permissions. A disabled dataset permits nobody.
"""

from __future__ import annotations

from collections.abc import Sequence

from accord.fl.governance._assets import Dataset, GovernanceView


def can_process(dataset: Dataset, org: str) -> bool:
    """True when ``dataset`` is enabled and its owner lists ``org`` in its permissions."""
    return dataset.enabled and org in dataset.permissions


def model_permissions(datasets: Sequence[Dataset]) -> frozenset[str]:
    """Organisations allowed on every dataset (a disabled one allows none); empty input: none."""
    if not datasets:
        return frozenset()
    allowed = frozenset.intersection(*(_effective(d) for d in datasets))
    return allowed


def can_download(view: GovernanceView, model_hash: str, org: str) -> bool:
    """True when the hub registered ``model_hash`` for ``org`` and every dataset it was
    trained on still permits ``org`` (unknown model or dataset: False).

    Permissions are re-derived from the datasets' current state, so an owner who withdraws
    an organisation or disables a dataset also withdraws the models trained on it.
    """
    model = view.models.get(model_hash)
    if model is None or org not in model.permissions:
        return False
    datasets = [view.datasets.get(d) for d in model.datasets]
    known = [d for d in datasets if d is not None]
    if len(known) != len(datasets):
        return False
    return org in model_permissions(known)


def _effective(dataset: Dataset) -> frozenset[str]:
    return dataset.permissions if dataset.enabled else frozenset()
