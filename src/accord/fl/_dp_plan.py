"""What a plan releases from a site's dataset, and the ε its differential privacy spends.

A site decides from the *approved* study of a plan (the function's archive, which it has
checked against its own file) — never from the plan entry alone, which a hub that carries
out a researcher's submission signs itself: the ε a plan declares is a claim, the ε the
study's mechanism spends on this site's rows is the charge (the larger of the two).

Every task kind releases figures of one class (or several, or none):

=================  =========================================================
``preprocessing``  category levels, counts, feature sums and spreads, sizes
                   (``schema``, ``stats``, ``tile_stats``)
``metrics``        evaluation pair counts, risk-group and Kaplan-Meier counts
                   (``evaluate``, ``risk_summary``, ``km_counts``; a local
                   baseline's site-level metrics)
``model``          a model update, derivatives or a model trained without DP
                   (``train``, ``newton``, ``local_baseline`` of a non-DP plan)
``dp``             a model update trained with the plan's DP mechanism: charged
=================  =========================================================

The first three are not differentially private. A site with an ε budget (or
``require-dp``) answers them only when its policy lists them in ``allow-non-dp``.
"""

from __future__ import annotations

from functools import lru_cache

from accord.core import PrivacySpec, StudySpec, TrainingSpec

__all__ = [
    "NON_DP_RELEASES",
    "NO_MECHANISM_METHODS",
    "plan_epsilon",
    "planned_epsilon",
    "releases_of",
    "site_epsilon",
]

NON_DP_RELEASES = ("preprocessing", "metrics", "model")
NO_MECHANISM_METHODS = ("preprocessing", "export_tiles")
"""Plan methods that train nothing (their tasks release preprocessing figures, metrics or
tiles): they declare no ε. Risk-group plans (``risk_groups:METHOD``) neither."""

_PREPROCESSING = frozenset({"schema", "stats", "tile_stats"})
_METRICS = frozenset({"evaluate", "risk_summary", "km_counts"})
_NOTHING = frozenset({"setup", "tile_norm", "interpret", "ledger_sync", "export_tiles"})


def planned_epsilon(privacy: PrivacySpec, training: TrainingSpec, sites: int = 1) -> float | None:
    """The ε a training plan of this study declares (its DP target), None without DP.

    DP-SGD declares its target ε (each site's σ reaches it on the site's own rows, by
    the most conservative accountant). DP-FedAvg: the distributed discrete Gaussian's ε
    over the plan's rounds, for a threshold of up to ``sites`` (the ε grows with it,
    negligibly at 40 fraction bits) and updates of up to
    :data:`~accord.privacy.MAX_DIMENSION` coordinates (sites refuse more).
    """
    if privacy.dp == "dpsgd":
        return privacy.epsilon
    if privacy.dp == "dpfedavg":
        from accord.privacy import dpfedavg_epsilon

        return dpfedavg_epsilon(privacy, training.rounds, max(1, sites))
    return None


def plan_epsilon(method: str, study: StudySpec, sites: int = 1) -> float | None:
    """The ε the plan of ``method`` over ``sites`` sites declares: None for plans that
    train nothing."""
    if method in NO_MECHANISM_METHODS or method.startswith("risk_groups:"):
        return None
    return planned_epsilon(study.privacy, study.training, sites)


def releases_of(kind: str, study: StudySpec) -> tuple[str, ...]:
    """What a task of ``kind`` under a plan of ``study`` releases (see the module table);
    ``("unclassified",)`` for a kind this table does not know (a guarded site refuses it)."""
    if kind in _NOTHING or kind.startswith("secagg."):
        return ()
    if kind in _PREPROCESSING:
        return ("preprocessing",)
    if kind in _METRICS:
        return ("metrics",)
    trained = "dp" if study.privacy.dp != "none" else "model"
    if kind == "train":
        return (trained,)
    if kind == "newton":
        return ("model",)
    if kind == "local_baseline":
        return (trained, "metrics")
    return ("unclassified",)


def site_epsilon(study: StudySpec, n_train: int, sites: int = 1) -> float | None:
    """The ε a training plan of ``study`` spends on a dataset of ``n_train`` training rows,
    by the most conservative accountant; None without DP.

    DP-SGD: σ is the study's ``noise_multiplier`` or the smallest reaching its target
    over ``rounds × local_steps`` steps at sampling rate ``batch_size / n_train``.
    """
    return _site_epsilon(study.privacy, study.training, n_train, sites)


@lru_cache(maxsize=256)  # a site checks every task of a plan: the σ search runs once
def _site_epsilon(
    privacy: PrivacySpec, training: TrainingSpec, n_train: int, sites: int
) -> float | None:
    if privacy.dp == "dpsgd":
        from accord.privacy import dpsgd_epsilon, most_conservative, noise_for_epsilon

        steps = training.rounds * training.local_steps
        rate = min(1.0, training.batch_size / max(1, n_train))
        sigma = privacy.noise_multiplier
        if sigma is None:
            if privacy.epsilon is None:
                return None
            sigma = noise_for_epsilon(privacy.epsilon, privacy.delta, rate, steps)
        return most_conservative(dpsgd_epsilon(sigma, rate, steps, privacy.delta)).epsilon
    return planned_epsilon(privacy, training, sites)
