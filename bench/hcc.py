"""HCC flagship study benchmark: slides + clinical, federated vs pooled, local, clinical-only.

    python bench/hcc.py [--out FILE] [--seeds 10] [--sites 3,10] [--slide-size 1024]
    python bench/hcc.py --from-rows STDOUT_OF_RUNS [--sites 3,10] [--out FILE]

For each seed and consortium size, ``accord synth hcc`` writes a fresh synthetic
consortium (planted macrotrabecular pattern, log HR ``--pattern-log-hr`` at its largest
extent) and the built-in study ``hcc-resection-survival`` runs on it: federated CHOWDER
and gated-attention MIL (slides + clinical, FedAvg, secure aggregation on for > 2 sites),
the same models pooled, each site alone (local-only, scored at home), the clinical-only
Cox model and the oracle (C of the true risk). Figures are consortium C-indices (summed
within-site pair counts on held-out patients). Localisation: AUC of the federated CHOWDER
tile scores (CHOWDER's oriented by risk; ABMIL's attention; mean pooling's per-tile risk)
against the planted-pattern mask, over the tiles of held-out slides that carry the pattern
(a tile is positive when > 50 % of it is pattern), with the ceiling the tile features
allow (a logistic probe trained on the masks, cross-validated by slide).

Targets (issue #7): federated within 0.02 of pooled; slides + clinical above clinical-only;
localisation AUC >= 0.8. Each is judged from the per-seed paired differences (same seed,
same consortium for both arms) with a 95 % t-interval over seeds (``bench.judging``):
"met", "not met" or "inconclusive". Prints one JSON line per consortium and a summary line
per consortium size; --out is rewritten after every consortium. Nothing here is tuned: the
settings are the built-in study's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from accord.models import set_arrays
from accord.models.mil import build_mil, risk_orientation, tile_scores
from accord.studies import MethodResult, Simulation, builtin_study
from accord.synth import generate_hcc_consortium
from accord.synth._layout import make_layout
from accord.synth._slides import mask_downsample_for

try:
    from bench import judging
except ImportError:  # run as a script (python bench/hcc.py): bench/ is on the path
    import judging  # type: ignore[no-redef]

MODELS = ("chowder", "abmil", "meanpool")


def _study(bootstrap: int = 0):  # type: ignore[no-untyped-def]
    study = builtin_study("hcc-resection-survival")
    evaluation = study.evaluation.model_copy(update={"bootstrap": bootstrap})
    return study.model_copy(update={"evaluation": evaluation})


def _with_model(study, kind: str):  # type: ignore[no-untyped-def]
    return study.model_copy(update={"model": study.model.model_copy(update={"kind": kind})})


def _c(result: MethodResult | None) -> float | None:
    if result is None or result.consortium_cindex is None:
        return None
    return round(float(result.consortium_cindex), 4)


def _local_mean(sim: Simulation, study) -> float | None:  # type: ignore[no-untyped-def]
    results = sim.run.local_baselines(study)  # each site trains and scores its own model
    cs = [r.mean_site_cindex for r in results if r.per_site and r.mean_site_cindex is not None]
    return round(float(np.mean(cs)), 4) if cs else None


def localisation_auc(
    sim: Simulation, result: MethodResult, root: Path, kind: str
) -> tuple[float | None, float | None]:
    """AUC of oriented tile scores against the planted-pattern masks on held-out slides,
    and the ceiling the tile features allow: the AUC of a logistic probe trained on the
    masks themselves (supervised, cross-validated by slide), on the same tiles."""
    truth = pd.read_csv(root / "truth.csv").set_index("patient_id")
    params = json.loads((root / "consortium.json").read_text())["parameters"]
    size, mpp, pattern = int(params["slide_size"]), float(params["mpp"]), params["pattern"]
    scores_all: list[np.ndarray] = []
    labels_all: list[np.ndarray] = []
    features_all: list[np.ndarray] = []
    for ctx in (site.context for site in sim.sites.values()):
        x_test = np.asarray(ctx.state["x_test"], dtype=np.float32)
        model = build_mil(kind, int(ctx.state["feature_dim"]), x_test.shape[1], seed=0)
        set_arrays(model, result.params)
        test_bags = ctx.state["bags_test"]
        sign = risk_orientation(model, test_bags, x_test)
        for bag, (slide, coords, tile) in zip(test_bags, ctx.state["tiles_test"], strict=True):
            row = truth.loc[Path(slide).name.removesuffix(".ome.tif")]
            if float(row["pattern_extent"]) <= 0:
                continue
            d = mask_downsample_for(size, size)
            layout = make_layout(
                size,
                size,
                downsample=d,
                mpp=mpp,
                seed=int(row["slide_seed"]),
                patterns={pattern: float(row["pattern_extent"])},
                pen_marks=bool(row["pen_marks"]),
            )
            mask = layout.grid_masks()[pattern]
            labels = [
                mask[y // d : (y + tile) // d + 1, x // d : (x + tile) // d + 1].mean() > 0.5
                for x, y in coords
            ]
            scores_all.append(sign * tile_scores(model, bag))
            labels_all.append(np.array(labels))
            features_all.append(np.asarray(bag))
    y = np.concatenate(labels_all) if labels_all else np.zeros(0)
    if y.size == 0 or y.all() or not y.any():
        return None, None
    auc = round(float(roc_auc_score(y, np.concatenate(scores_all))), 4)
    groups = np.concatenate([np.full(len(lab), i) for i, lab in enumerate(labels_all)])
    folds = min(5, len(labels_all))
    probe = cross_val_predict(
        LogisticRegression(max_iter=2000),
        np.concatenate(features_all),
        y,
        groups=groups,
        cv=GroupKFold(folds),
        method="predict_proba",
    )[:, 1]
    return auc, round(float(roc_auc_score(y, probe)), 4)


def one(seed: int, sites: int, patients: int, slide_size: int, log_hr: float) -> dict[str, Any]:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accord-bench-hcc-") as tmp:
        root = Path(tmp) / "consortium"
        generate_hcc_consortium(
            root,
            sites=sites,
            patients=patients,
            seed=seed,
            slide_size=slide_size,
            pattern_log_hr=log_hr,
        )
        generated = time.perf_counter() - start
        study = _study()
        sim = Simulation.prepare(study, root, seed, feature_cache=Path(tmp) / "cache")
        run = sim.run
        prepared = time.perf_counter() - start
        figures: dict[str, Any] = {"clinical_only": _c(run.clinical_only())}
        for kind in MODELS:
            st = _with_model(study, kind)
            fed = run.federated(st)
            figures[f"federated_{kind}"] = _c(fed)
            figures[f"pooled_{kind}"] = _c(sim.references.pooled(st))
            figures[f"local_{kind}"] = _local_mean(sim, st)
            auc, ceiling = localisation_auc(sim, fed, root, kind)
            figures[f"localisation_auc_{kind}"] = auc
            figures["localisation_probe_ceiling"] = ceiling
        figures["oracle"] = _c(sim.references.oracle())
    return {
        "seed": seed,
        "sites": sites,
        "patients_per_site": patients,
        "slide_size": slide_size,
        "pattern_log_hr": log_hr,
        **figures,
        "generate_s": round(generated, 1),
        "prepare_s": round(prepared - generated, 1),
        "total_s": round(time.perf_counter() - start, 1),
    }


def _paired(mine: list[dict[str, Any]], key: str, reference: str | float) -> tuple[list, Any]:
    """``key``'s values and the reference's over the seeds where both are measured."""
    if isinstance(reference, str):
        both = [r for r in mine if r.get(key) is not None and r.get(reference) is not None]
        return [r[key] for r in both], [r[reference] for r in both]
    return [r[key] for r in mine if r.get(key) is not None], reference


def summary(rows: list[dict[str, Any]], sites: int) -> dict[str, Any]:
    """Means over seeds, and each target judged from the per-seed paired differences
    (same seed, same consortium and split for both arms) with a 95 % t-interval."""
    prefixes = ("federated", "pooled", "local", "clinical", "oracle")  # "local" + "localisation"
    keys = [k for k in rows[0] if k.startswith(prefixes)]
    mine = [r for r in rows if r["sites"] == sites]
    out: dict[str, Any] = {"sites": sites, "n_seeds": len(mine), "seeds": [r["seed"] for r in mine]}
    for key in keys:
        values = [r[key] for r in mine if r.get(key) is not None]
        out[key] = round(float(np.mean(values)), 4) if values else None
    targets: dict[str, Any] = {}
    for kind in MODELS:
        fed = f"federated_{kind}"
        targets[f"{kind}_within_0.02_of_pooled"] = judging.target(
            f"{fed} − pooled_{kind} > −0.02", *_paired(mine, fed, f"pooled_{kind}"), margin=-0.02
        )
        targets[f"{kind}_above_clinical_only"] = judging.target(
            f"{fed} − clinical_only > 0", *_paired(mine, fed, "clinical_only")
        )
        targets[f"{kind}_localisation_auc_ge_0.8"] = judging.target(
            f"localisation_auc_{kind} − 0.8 > 0", *_paired(mine, f"localisation_auc_{kind}", 0.8)
        )
        out[f"{kind}_federated_minus_local"] = judging.paired_difference(
            *_paired(mine, fed, f"local_{kind}")
        )
    out["targets"] = targets
    return out


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The per-consortium rows a run printed (its stdout, one JSON object a line)."""
    lines = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return [row for row in lines if "seed" in row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one")
    parser.add_argument("--sites", default="3,10")
    parser.add_argument("--patients", default="80,30", help="patients per site, per --sites entry")
    parser.add_argument("--slide-size", type=int, default=1024)
    parser.add_argument("--pattern-log-hr", type=float, default=2.0)
    parser.add_argument(
        "--from-rows",
        type=Path,
        help="judge the rows an earlier run printed (its stdout) instead of running",
    )
    args = parser.parse_args()
    site_counts = [int(v) for v in args.sites.split(",")]
    patients = [int(v) for v in args.patients.split(",")]
    if args.from_rows is None and len(patients) != len(site_counts):
        sys.exit("--patients needs one count per --sites entry")

    def write(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        summaries = [summary(rows, n) for n in site_counts if any(r["sites"] == n for r in rows)]
        if args.out is not None:  # after every consortium: a cut-short run keeps its rows
            args.out.parent.mkdir(parents=True, exist_ok=True)
            document = {"rows": rows, "summary": summaries}
            args.out.write_text(json.dumps(document, indent=2) + "\n")
        return summaries

    rows = read_rows(args.from_rows) if args.from_rows is not None else []
    if args.from_rows is None:
        for n_sites, n_patients in zip(site_counts, patients, strict=True):
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                row = one(seed, n_sites, n_patients, args.slide_size, args.pattern_log_hr)
                print(json.dumps(row), flush=True)
                rows.append(row)
                write(rows)
    for s in write(rows):
        print(json.dumps({"summary": s}), flush=True)


if __name__ == "__main__":
    main()
