"""Site-side task handlers: what a site computes on its own rows for each kind of task.

Every reply carries aggregates only: parameter updates, summed derivatives, counts and
site-level metrics. Row-level arrays never leave (and ``refuse_row_level_arrays`` checks).
"""

from __future__ import annotations

import json
import zlib
from typing import Literal, cast

import numpy as np
import torch

from accord.core import MIL_KINDS, Arrays, ConfigError, PolicyError, PrivacySpec
from accord.data import Preprocessor, feature_levels, feature_spread, feature_sums
from accord.fl._evaluation import evaluate_risk, suppress_small
from accord.fl._risk_groups import group_counts, risk_histogram, risk_moments, time_grid
from accord.fl._site import SiteContext
from accord.fl._task_config import DPSettings, TaskConfig
from accord.fl.tasks._pathology import (
    mil_model,
    mil_risk,
    prepare_bags,
    render_highest_risk,
    standardise_bags,
    tile_statistics,
    train_mil,
    write_interpretability,
)
from accord.fl.tasks._private_training import privatise_update, train_private
from accord.models import LocalTrainingConfig, build_model, get_arrays, set_arrays, train_local
from accord.net import Reply, Task
from accord.survival import cox_derivatives

__all__ = [
    "bootstrap_seed",
    "handle_evaluate",
    "handle_newton",
    "handle_train",
    "site_seed",
    "site_sizes",
]


def site_seed(seed: int, site: str, rnd: int) -> int:
    """A per-site, per-round seed, stable across processes (crc32, not Python's hash)."""
    return (seed * 1_000_003 + zlib.crc32(site.encode()) + rnd * 7919) % (2**31)


def bootstrap_seed(seed: int, site: str) -> int:
    """The seed of the site's bootstrap resamples of its test rows: the same for every
    evaluation at this site (any plan, method, model or round), so that the resamples of
    two models are the same rows and their difference in C is paired."""
    return site_seed(seed, site, 0)


def _reply(task: Task, arrays: Arrays | None = None, **fields: object) -> Reply:
    return Reply.build(
        arrays=arrays, task_id=task.task_id, site=task.site, kind=task.kind, **fields
    )


def handle_schema(task: Task, ctx: SiteContext) -> Reply:
    """Preprocessing, stage 1: the categorical levels the site saw at least
    ``min_cell_count`` times, in clear.

    Levels are the vocabulary of a column (which values occur), not counts of patients:
    the hub needs them to align every site's counts on one consortium vocabulary, and
    masking cannot sum a set of strings. Nothing else leaves here: the site's sizes travel
    with its stage-2 sums (:func:`handle_stats`), masked when the plan is secure.
    """
    levels = feature_levels(ctx.cohort, ctx.study.cohort, ctx.study.preprocessing)
    return _reply(task, labels=levels)


def site_sizes(ctx: SiteContext, *, secure: bool) -> dict[str, int]:
    """The site's training and test sizes and training events: exact inside a secure sum
    (the hub learns only the consortium totals), small ones suppressed in clear."""
    cohort, small = ctx.cohort, ctx.study.preprocessing.min_cell_count
    events = int(cohort.subset(test=False).event.sum())
    sizes = {"n_train": cohort.n_train, "n_test": cohort.n_test, "n_events": events}
    return sizes if secure else {k: suppress_small(v, small) for k, v in sizes.items()}


def handle_stats(task: Task, ctx: SiteContext) -> Reply:
    """Preprocessing, stages 2 and 3: counts and sums over the consortium vocabulary, with
    the site's sizes (``stage = "sums"``, document: the vocabulary), or squared deviations
    about the consortium means (``stage = "spread"``, document: the means) — summable
    replies, securely summed when the plan says so; in clear, small counts stay at the site."""
    spec, prep = ctx.study.cohort, ctx.study.preprocessing
    document = json.loads(task.document or "{}")
    secure = TaskConfig.of(task).secagg is not None
    counts: dict[str, int] = {}
    if task.config.get("stage") == "spread":
        arrays = feature_spread(ctx.cohort, spec, {k: float(v) for k, v in document.items()})
    else:
        vocabulary = {k: tuple(map(str, v)) for k, v in document.items()}
        arrays = feature_sums(ctx.cohort, spec, prep, vocabulary, secure=secure)
        counts = site_sizes(ctx, secure=secure)
    return _reply(task, arrays=arrays, weight=float(ctx.cohort.n_train), counts=counts)


def handle_setup(task: Task, ctx: SiteContext) -> Reply:
    """Store the consortium's preprocessor and encode the site's rows once."""
    prep = Preprocessor.from_dict(json.loads(task.document))
    train, test = ctx.cohort.subset(test=False), ctx.cohort.subset(test=True)
    ctx.state.update(
        preprocessor=prep,
        x_train=prep.transform(train.features),
        x_test=prep.transform(test.features),
    )
    ctx.state.pop("scaffold_control", None)
    counts = {"n_features": len(prep.columns)}
    if ctx.study.uses_slides and "feature_dim" not in ctx.state:
        counts["feature_dim"] = prepare_bags(ctx)
    elif "feature_dim" in ctx.state:
        counts["feature_dim"] = int(ctx.state["feature_dim"])
    return _reply(task, counts=counts)


def _kind(task: Task, ctx: SiteContext) -> str:
    """The plan's model kind (a study may run a clinical-only baseline beside its MIL model)."""
    return TaskConfig.of(task).model or ctx.study.model.kind


def _encoded(ctx: SiteContext, split: Literal["train", "test"]) -> np.ndarray:
    key = f"x_{split}"
    if key not in ctx.state:
        raise ConfigError(f"site '{ctx.site}': no preprocessing set up before training")
    return cast(np.ndarray, ctx.state[key])


def _model(ctx: SiteContext, params: Arrays, kind: str) -> torch.nn.Module:
    n_clinical = _encoded(ctx, "train").shape[1]
    if kind in MIL_KINDS:
        model = mil_model(ctx, kind, n_clinical)
    else:
        spec = ctx.study.model.model_copy(update={"kind": kind})
        model = build_model(spec, n_clinical, seed=0)
    set_arrays(model, {k: v for k, v in params.items() if not k.startswith("control.")})
    return model


def handle_train(task: Task, ctx: SiteContext) -> Reply:
    """Local training from the global model; returns the weighted update ``delta.*``."""
    arrays = task.arrays
    params = {k: v for k, v in arrays.items() if not k.startswith("control.")}
    kind = _kind(task, ctx)
    model = _model(ctx, params, kind)
    train = ctx.cohort.subset(test=False)
    cfg = task.config
    config = LocalTrainingConfig(
        steps=int(cfg["local_steps"]),
        batch_size=int(cfg["batch_size"]),
        lr=float(cfg["lr"]),
        optimizer="adam" if cfg.get("optimizer") == "adam" else "sgd",
        ties=ctx.study.model.ties,
        l2=float(cfg.get("l2", 0.0)),
        prox_mu=float(cfg.get("prox_mu", 0.0)),
        loss=ctx.study.model.loss,
        time_bins_days=ctx.study.model.time_bins_days,
    )
    scaffold = _scaffold_pair(ctx, arrays, params) if cfg.get("scaffold") else None
    privacy = plan_privacy(task, ctx)
    seed = site_seed(ctx.seed, ctx.site, task.round)
    x = _encoded(ctx, "train")
    metrics: dict[str, float | None]
    if kind in MIL_KINDS:
        loss = train_mil(model, ctx, x, config, seed)
        metrics, control = {"train_loss": loss}, None
    elif privacy.dp == "dpsgd":
        if scaffold is not None or config.prox_mu > 0:
            raise ConfigError("DP-SGD runs with FedAvg-type strategies (no SCAFFOLD/FedProx yet)")
        # steps, batch size and rounds (hence σ) from the site's own study, not the task
        metrics = train_private(
            model, x, train.time_days, train.event, ctx.study, privacy, task.round
        )
        control = None
    else:
        result = train_local(
            model, x, train.time_days, train.event, config, seed=seed, scaffold=scaffold
        )
        metrics, control = {"train_loss": result.mean_loss}, result.control
    new = get_arrays(model)
    update = {k: new[k] - params[k] for k in new}
    weight = float(train.n) if cfg.get("weighting") == "samples" else 1.0
    if privacy.dp == "dpfedavg":
        plan = TaskConfig.of(task)
        # Each discrete Gaussian share is sized so that the fewest sites whose sum can be
        # unmasked (the secure round's threshold t) already carry the plan's noise; a larger
        # sum is over-noised, which is safe. In clear the hub sees this update alone: it
        # carries all the noise (local DP). Rounding happens at the secure sum's precision.
        secure = plan.secagg
        threshold = secure.threshold if secure is not None else None
        bits = secure.fraction_bits if secure is not None else privacy.secagg_fraction_bits
        update, dp_metrics = privatise_update(
            update, privacy, threshold, bits, task.round, plan.rounds or 1
        )
        metrics |= dp_metrics
        weight = 1.0  # DP-FedAvg: every site counts once, its clipped update is the unit
    out = {f"delta.{k}": v * weight for k, v in update.items()}
    if scaffold is not None and control is not None:
        out |= {f"control.{k}": control[k] - scaffold[1][k] for k in new}
        ctx.state["scaffold_control"] = control
    return _reply(task, arrays=out, weight=weight, metrics=metrics)


def plan_privacy(task: Task, ctx: SiteContext) -> PrivacySpec:
    """The DP settings the site trains with: its own study's ``[privacy]``, which the site
    checked against the approved function; never the task's (the hub sends them as
    ``dp.*`` config, and an untrusted hub could send weaker ones). A task whose ``dp.*``
    settings are not the study's is refused (:class:`PolicyError`)."""
    own = ctx.study.privacy
    sent = TaskConfig.of(task).dp
    if sent.given() and sent != DPSettings.of(own):
        raise PolicyError(
            f"task {task.task_id}: its differential-privacy settings differ from this "
            "site's approved study's [privacy]"
        )
    return own


def _scaffold_pair(ctx: SiteContext, arrays: Arrays, params: Arrays) -> tuple[Arrays, Arrays]:
    server = {k[len("control.") :]: v for k, v in arrays.items() if k.startswith("control.")}
    local = ctx.state.get("scaffold_control") or {k: np.zeros_like(v) for k, v in params.items()}
    return server, cast(Arrays, local)


def handle_newton(task: Task, ctx: SiteContext) -> Reply:
    """Gradient and Hessian of this site's stratum partial log-likelihood at ``beta``."""
    beta = task.arrays["beta"].reshape(-1)
    train = ctx.cohort.subset(test=False)
    ties: Literal["breslow", "efron"] = (
        "breslow" if task.config.get("ties") == "breslow" else "efron"
    )
    d = cox_derivatives(_encoded(ctx, "train"), train.time_days, train.event, beta, ties=ties)
    arrays = {"loglik": np.array([d.loglik]), "gradient": d.gradient, "hessian": d.hessian}
    return _reply(task, arrays=arrays, weight=1.0, counts={"n": train.n})


def _risks(task: Task, ctx: SiteContext) -> tuple[np.ndarray, np.ndarray]:
    """The global model's risk of each training and each test row (kept at the site),
    scored in eval mode: dropout off, so a score is the model's, not one random draw."""
    kind = _kind(task, ctx)
    model = _model(ctx, task.arrays, kind)
    model.eval()
    if kind in MIL_KINDS:
        risk_train = mil_risk(model, ctx, "train", _encoded(ctx, "train"))
        risk_test = mil_risk(model, ctx, "test", _encoded(ctx, "test"))
    else:
        with torch.no_grad():
            risk_train = model(torch.as_tensor(_encoded(ctx, "train"))).numpy()
            risk_test = model(torch.as_tensor(_encoded(ctx, "test"))).numpy()
    return risk_train, risk_test


def handle_evaluate(task: Task, ctx: SiteContext) -> Reply:
    """Site-level metrics of the global model on the site's test rows."""
    risk_train, risk_test = _risks(task, ctx)
    result = evaluate_risk(
        train=ctx.cohort.subset(test=False),
        test=ctx.cohort.subset(test=True),
        risk_train=risk_train,
        risk_test=risk_test,
        evaluation=ctx.study.evaluation,
        min_cell_count=ctx.study.preprocessing.min_cell_count,
        seed=bootstrap_seed(ctx.seed, ctx.site),
    )
    return _reply(task, arrays=result.arrays, metrics=result.metrics, counts=result.counts)


def _require_secure(task: Task, ctx: SiteContext) -> None:
    """A fine histogram or per-interval counts of one site come close to its patients' own
    values: they leave the site only masked, as a contribution to a secure sum."""
    if TaskConfig.of(task).secagg is None:
        raise PolicyError(
            f"site '{ctx.site}': task '{task.kind}' is answered only under secure aggregation"
        )


def handle_risk_summary(task: Task, ctx: SiteContext) -> Reply:
    """Summable statistics of the training risks: moments, or a histogram on the hub's grid."""
    _require_secure(task, ctx)
    risk_train, _ = _risks(task, ctx)
    cfg = task.config
    if cfg.get("stage") == "histogram":
        arrays = risk_histogram(risk_train, float(cfg["lo"]), float(cfg["hi"]), int(cfg["bins"]))
    else:
        arrays = risk_moments(risk_train)
    return _reply(task, arrays=arrays, weight=float(ctx.cohort.n_train))


def handle_km_counts(task: Task, ctx: SiteContext) -> Reply:
    """Test rows at risk and events per risk group on the hub's time grid (sums only)."""
    _require_secure(task, ctx)
    _, risk_test = _risks(task, ctx)
    cfg = task.config
    grid = time_grid(float(cfg["step_days"]), float(cfg["end_days"]))
    test = ctx.cohort.subset(test=True)
    arrays = group_counts(test.time_days, test.event, risk_test, float(cfg["cutoff"]), grid)
    return _reply(task, arrays=arrays, weight=float(test.n))


def handle_interpret(task: Task, ctx: SiteContext) -> Reply:
    """Render heatmaps and top/bottom tiles into the site's own folder; reply counts only."""
    kind = _kind(task, ctx)
    if kind not in MIL_KINDS:
        return _reply(task, counts={"slides_rendered": 0})
    model = _model(ctx, task.arrays, kind)
    rendered = write_interpretability(ctx, model, _encoded(ctx, "test"))
    return _reply(task, counts={"slides_rendered": rendered})


def handle_export_tiles(task: Task, ctx: SiteContext) -> Reply:
    """Release heatmaps and top/bottom tiles of the ``patients`` highest-risk test patients.

    Tile images are patient data: the site's policy must allow the export (checked before
    this runs, and the task is signed into the ledger with the images' hash). Each PNG
    travels as a (1, bytes) uint8 array named by risk rank, never by patient.
    """
    kind = _kind(task, ctx)
    if kind not in MIL_KINDS:
        raise ConfigError(f"model kind '{kind}' has no tile scores to export")
    model = _model(ctx, task.arrays, kind)
    patients = int(task.config.get("patients", 1))
    images = render_highest_risk(ctx, model, _encoded(ctx, "test"), patients)
    arrays = {
        name: np.frombuffer(png, dtype=np.uint8).reshape(1, -1) for name, png in images.items()
    }
    return _reply(task, arrays=arrays, counts={"slides_exported": len(images) // 2})


def handle_tile_stats(task: Task, ctx: SiteContext) -> Reply:
    """Sums of the site's training tile features for consortium standardisation: the count
    and sum, or (``stage = "spread"``, arrays: the consortium ``mean``) the squared
    deviations about the consortium mean."""
    mean = task.arrays.get("mean") if task.config.get("stage") == "spread" else None
    arrays = tile_statistics(ctx, mean)
    return _reply(task, arrays=arrays, weight=float(arrays["n"][0]) if "n" in arrays else 0.0)


def handle_tile_norm(task: Task, ctx: SiteContext) -> Reply:
    """Standardise the site's tile features with the consortium's mean and sd."""
    standardise_bags(ctx, task.arrays["mean"], task.arrays["std"])
    return _reply(task)
