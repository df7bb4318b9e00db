"""Federated self-supervised pretraining of a tile encoder on the sites' own tiles.

Each site samples tissue tiles from its own slides and runs SimCLR steps from the global
weights; the hub averages the updates with FedAvg (weighted by the sites' tile counts) —
secure aggregation applies as for any weighted sum when more than two sites take part.
The result is exported as TorchScript with its preprocessing, a backbone the consortium
built itself with no download, used like any other (``--extractor torchscript``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accord.core import PrivacySpec, SlideReadError
from accord.crypto import new_identity
from accord.fl import (
    Hub,
    InMemoryTransport,
    Middleware,
    Plan,
    PlanBook,
    secure_aggregation_middleware,
)
from accord.fl.strategies import FedAvg, SiteInfo, TrainingHyperparameters
from accord.models import get_arrays, set_arrays
from accord.models.ssl import build_simclr, export_encoder, train_simclr_local
from accord.net import Reply, Task
from accord.wsi import open_slide, read_tiles, tile_grid, tissue_mask

__all__ = ["PretrainSettings", "federated_simclr", "sample_tiles"]


@dataclass(frozen=True)
class PretrainSettings:
    rounds: int = 5
    local_steps: int = 20
    batch_size: int = 32
    lr: float = 0.05
    input_size: int = 64
    tile_px: int = 96
    mpp: float = 1.0
    tiles_per_site: int = 256
    dim: int = 128
    seed: int = 0


def sample_tiles(slides: Sequence[Path], settings: PretrainSettings) -> np.ndarray:
    """Up to ``tiles_per_site`` tissue tiles spread over a site's slides (seeded)."""
    rng = np.random.default_rng(settings.seed)
    per_slide = max(1, settings.tiles_per_site // max(1, len(slides)))
    chosen: list[np.ndarray] = []
    for path in slides:
        with open_slide(path) as reader:
            grid = tile_grid(reader, tissue_mask(reader), settings.mpp, settings.tile_px, 0, 0.5)
            if not grid:
                continue
            picks = rng.choice(len(grid), size=min(per_slide, len(grid)), replace=False)
            chosen += list(
                read_tiles(reader, [grid[i] for i in sorted(picks)], settings.mpp, settings.tile_px)
            )
    if not chosen:
        raise SlideReadError("no tissue tile found in the site's slides")
    return np.stack(chosen)


class _PretrainSite:
    """A site endpoint for SimCLR rounds: its tiles never leave it, only weight updates."""

    def __init__(
        self, name: str, tiles: np.ndarray, settings: PretrainSettings, middleware: Middleware
    ) -> None:
        self.site, self.tiles, self.settings = name, tiles, settings
        self.state: dict[str, object] = {}  # what the secure-aggregation middleware keeps
        self._middleware = middleware

    def handle(self, task: Task) -> Reply:
        # duck-typed context: the middleware uses only ``site`` and ``state``
        reply: Reply = self._middleware(task, self, self._train)  # type: ignore[arg-type]
        return reply

    def _train(self, task: Task, _: object) -> Reply:
        s = self.settings
        model = build_simclr(dim=s.dim, seed=s.seed)
        params = task.arrays
        set_arrays(model, params)
        seed = (s.seed * 1_000_003 + zlib.crc32(self.site.encode()) + task.round) % 2**31
        result = train_simclr_local(
            model,
            self.tiles,
            steps=s.local_steps,
            batch_size=s.batch_size,
            lr=s.lr,
            seed=seed,
            input_size=s.input_size,
        )
        weight = float(len(self.tiles))
        new = get_arrays(model)
        delta = {f"delta.{k}": (new[k] - params[k]) * weight for k in new}
        return Reply.build(
            task_id=task.task_id,
            site=task.site,
            kind=task.kind,
            arrays=delta,
            weight=weight,
            metrics={"ssl_loss": result.mean_loss},
        )


def federated_simclr(
    site_tiles: Mapping[str, np.ndarray], settings: PretrainSettings, out: Path
) -> Path:
    """Pretrain across sites with FedAvg (securely aggregated for > 2 sites); export."""
    keys = {site: new_identity(f"site{i}") for i, site in enumerate(site_tiles)}
    public = {site: k.public.public_key for site, k in keys.items()}
    book = PlanBook()  # one process: the sites learn the plan from it
    sites = {
        name: _PretrainSite(
            name,
            tiles,
            settings,
            secure_aggregation_middleware(keys[name], public.__getitem__, expect=book.expect),
        )
        for name, tiles in site_tiles.items()
    }
    hub = Hub(InMemoryTransport(sites))
    hyper = TrainingHyperparameters(
        local_steps=settings.local_steps, batch_size=settings.batch_size, lr=settings.lr
    )
    infos = [SiteInfo(s, len(t)) for s, t in site_tiles.items()]
    # the default privacy: secure aggregation whenever more than two sites take part
    plan = Plan.create("pretrain", infos, PrivacySpec(), strategy=FedAvg(hyper=hyper))
    book.add(plan)
    model = build_simclr(dim=settings.dim, seed=settings.seed)
    state = hub.fit(plan, get_arrays(model), settings.rounds)
    set_arrays(model, state.params)
    return export_encoder(model, out, settings.input_size)
