"""``accord wsi``: slide metadata, tissue/tile QC, and tile feature extraction at a site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from accord.cli._errors import guarded
from accord.core import ConfigError, SlideReadError

__all__ = ["wsi_app"]

# The slide readers (scipy, scikit-image) and the extractors (torch) are imported in the
# commands that use them, so that every other command starts fast.

wsi_app = typer.Typer(help="Whole-slide images: metadata, QC thumbnails, tile features.")
console = Console(soft_wrap=True)
SLIDE_SUFFIXES = {".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".bif"}
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
SlideMpp = Annotated[
    float | None, typer.Option("--slide-mpp", help="µm/px for slides whose metadata lacks it")
]


@wsi_app.command()
def info(slide: Path, slide_mpp: SlideMpp = None, debug: DebugOpt = False) -> None:
    """Backend, vendor, size, microns per pixel, magnification and levels of a slide."""

    def action() -> None:
        from accord.wsi import open_slide

        with open_slide(slide, slide_mpp) as reader:
            i = reader.info
            console.print(
                f"{slide}: {i.backend} ({i.vendor}), {i.width}×{i.height} px, "
                f"{i.mpp:.4f} µm/px, magnification {i.magnification or '—'}"
            )
            for n, level in enumerate(i.levels):
                console.print(
                    f"  level {n}: {level.width}×{level.height} (downsample {level.downsample:g})"
                )

    guarded(debug, action)


@wsi_app.command()
def qc(
    slide: Path,
    out: Annotated[Path, typer.Option("--out", help="PNG to write")],
    mpp: Annotated[float, typer.Option("--mpp")] = 0.5,
    tile: Annotated[int, typer.Option("--tile")] = 224,
    min_tissue: Annotated[float, typer.Option("--min-tissue")] = 0.5,
    slide_mpp: SlideMpp = None,
    debug: DebugOpt = False,
) -> None:
    """A thumbnail with the detected tissue and the tile grid, to check before extracting."""

    def action() -> None:
        from accord.wsi import open_slide, qc_thumbnail, tile_grid, tissue_mask

        with open_slide(slide, slide_mpp) as reader:
            mask = tissue_mask(reader)
            tiles = tile_grid(reader, mask, mpp, tile, 0, min_tissue)
            qc_thumbnail(reader, mask, tiles, out)
        console.print(f"{slide}: {len(tiles)} tiles of {tile} px at {mpp} µm/px; QC: {out}")

    guarded(debug, action)


@wsi_app.command()
def extract(
    slides: Annotated[list[Path], typer.Argument(help="slide files")],
    out: Annotated[Path, typer.Option("--out", help="the site's feature cache folder")],
    extractor: Annotated[str, typer.Option("--extractor")] = "histomorphometry",
    model: Annotated[Path | None, typer.Option("--model", help="TorchScript/ONNX file")] = None,
    mpp: Annotated[float, typer.Option("--mpp")] = 0.5,
    tile: Annotated[int, typer.Option("--tile")] = 224,
    min_tissue: Annotated[float, typer.Option("--min-tissue")] = 0.5,
    slide_mpp: SlideMpp = None,
    debug: DebugOpt = False,
) -> None:
    """Tile features of every slide into the cache (finished slides are skipped)."""

    def action() -> None:
        from accord.models import extract_features
        from accord.models.extractors import build_extractor
        from accord.wsi import FeatureCache, TilingParams

        fx = build_extractor(extractor, model, mpp=mpp)
        tiling = TilingParams(mpp=mpp, tile_px=tile, min_tissue=min_tissue)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("slides", total=len(slides))
            _, report = extract_features(
                slides,
                fx,
                tiling,
                FeatureCache(out),
                slide_mpp=slide_mpp,
                progress=lambda path, done, total: bar.update(task, completed=done),
            )
        console.print(
            f"{len(report.done)} slides extracted, {len(report.cached)} from the "
            f"cache, {report.tiles} tiles, features {fx.name} ({fx.dim}) in {out}"
        )
        for reason in report.failed.values():
            console.print(f"failed: {reason}", highlight=False, markup=False)
        if report.failed:
            raise SlideReadError(f"{len(report.failed)} of {len(slides)} slides failed (above)")

    guarded(debug, action)


@wsi_app.command()
def pretrain(
    sites: Annotated[list[str], typer.Argument(help="SITE=FOLDER of slides, one per site")],
    out: Annotated[Path, typer.Option("--out", help="TorchScript encoder to write")],
    rounds: Annotated[int, typer.Option("--rounds")] = 5,
    local_steps: Annotated[int, typer.Option("--local-steps")] = 20,
    tiles_per_site: Annotated[int, typer.Option("--tiles-per-site")] = 256,
    debug: DebugOpt = False,
) -> None:
    """Federated SimCLR pretraining of a tile encoder on the sites' own slides (simulated)."""

    def action() -> None:
        from accord.studies import PretrainSettings, federated_simclr, sample_tiles

        settings = PretrainSettings(
            rounds=rounds, local_steps=local_steps, tiles_per_site=tiles_per_site
        )
        tiles = {}
        for item in sites:
            name, _, folder = item.partition("=")
            slides = sorted(p for p in Path(folder).glob("*") if p.suffix in SLIDE_SUFFIXES)
            if not name or not slides:
                raise ConfigError(f"{item}: expected SITE=FOLDER with slide files in it")
            tiles[name] = sample_tiles(slides, settings)
        path = federated_simclr(tiles, settings, out)
        console.print(f"encoder: {path} (use --extractor torchscript --model {path})")

    guarded(debug, action)
