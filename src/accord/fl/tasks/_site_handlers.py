"""Every task kind a site answers, and its handler: the one dict the site runtime uses."""

from __future__ import annotations

from accord.fl._site import Handler
from accord.fl.tasks._handlers import (
    handle_evaluate,
    handle_export_tiles,
    handle_interpret,
    handle_km_counts,
    handle_newton,
    handle_risk_summary,
    handle_schema,
    handle_setup,
    handle_stats,
    handle_tile_norm,
    handle_tile_stats,
    handle_train,
)
from accord.fl.tasks._local_baseline import LOCAL_BASELINE, handle_local_baseline

__all__ = ["SITE_HANDLERS"]

SITE_HANDLERS: dict[str, Handler] = {
    "tile_stats": handle_tile_stats,
    "interpret": handle_interpret,
    "export_tiles": handle_export_tiles,
    "tile_norm": handle_tile_norm,
    "schema": handle_schema,
    "stats": handle_stats,
    "setup": handle_setup,
    "train": handle_train,
    "newton": handle_newton,
    "evaluate": handle_evaluate,
    "risk_summary": handle_risk_summary,
    "km_counts": handle_km_counts,
    LOCAL_BASELINE: handle_local_baseline,
}
