"""The report's plain sentences: what each metric and each interval means, what each kind of
method is. One place, so the report, the dashboard and the docs say the same thing."""

from __future__ import annotations

__all__ = ["INTERVALS", "METRICS", "ROLES", "role"]

METRICS: dict[str, str] = {
    "Harrell's C": (
        "Of the pairs of held-out patients that can be ordered (one had the event while the "
        "other was still event-free), the share in which the model gave the earlier event "
        "the higher risk; 0.5 is chance, 1 is perfect ordering."
    ),
    "Consortium C": (
        "Harrell's C over every site's held-out patients at once, from the pair counts the "
        "sites summed (pairs are formed within a site, never across sites)."
    ),
    "Mean site C": "The plain average of the sites' own Harrell C.",
    "Uno's C": (
        "Harrell's C with each pair weighted by the inverse chance of staying uncensored, so "
        "that it does not depend on how much follow-up the site happens to have (up to the "
        "evaluation horizon)."
    ),
    "td-AUC": (
        "Time-dependent AUC at the evaluation horizon: the chance that a patient who had the "
        "event by then is ranked above one still event-free at that time."
    ),
    "IBS": (
        "Integrated Brier score: the squared error of the predicted survival probabilities, "
        "censoring-weighted and averaged over follow-up; lower is better, and predicting 50 % "
        "for everyone scores 0.25."
    ),
}

INTERVALS: dict[str, str] = {
    "95 % interval of a consortium C": (
        "A bias-corrected and accelerated (BCa) bootstrap interval over resamples of the "
        "held-out patients, drawn within each site (site-stratified) and summed as pair "
        "counts: it shows how much the figure depends on which test patients were drawn, not "
        "how a retrained model would vary."
    ),
    "95 % interval of a site's C": (
        "A BCa bootstrap interval over resamples of that site's own held-out patients."
    ),
    "95 % interval of a difference": (
        "Paired percentile bootstrap: each resample of the same held-out patients scores both "
        "models, "
        "so the interval is of the difference itself; when it excludes 0 the difference is "
        "unlikely to be an accident of the test patients drawn."
    ),
    "95 % interval of a hazard ratio": (
        "Wald interval exp(coef ± 1.96 SE), with the SE from the consortium's summed "
        "observed information at the fitted coefficients."
    ),
}

ROLES: dict[str, str] = {
    "study model": "the study's federated model, trained across the sites",
    "clinical-only": "a baseline: the clinical features alone, trained federated",
    "local-only": (
        "a baseline: one site trains the study's model on its own rows and scores it on "
        "its own held-out patients only (its model never leaves the site)"
    ),
    "pooled": "a reference: every row in one place (simulation only, impossible in practice)",
    "oracle": "a reference: the true risk the synthetic data were generated with",
}


def role(method: str) -> str:
    """The role of a method, from its name in results.json."""
    if method.startswith("local:"):
        return "local-only"
    if method in ("clinical_only", "pooled", "oracle"):
        return {"clinical_only": "clinical-only"}.get(method, method)
    return "study model"
