"""Pathology pipeline benchmark: tissue detection, tiling, reading and extractors.

    python bench/wsi.py [--out FILE] [--sizes 4096,8192,16384]

Reading: tiles/s of our reader (tissue tiles of 224 px at 0.5 µm/px) against a bare
OpenSlide ``read_region`` loop over the same tiles in the same run (target ≥ 0.8×), on the
real slide in ../shared/data/pathology when present and on synthetic pyramidal TIFFs.
Extractors: tiles/s per backend on CPU (histomorphometry, a small TorchScript CNN, the same
CNN in ONNX). Memory: peak RSS of a fresh process extracting a whole slide, per slide size
(flat in slide size). histolab and TIAToolbox are measured only where they install beside
this environment (they pin numpy < 2 today: reported as null with the reason).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import torch

from accord.models.extractors import build_extractor
from accord.synth import write_slide
from accord.wsi import open_slide, read_tiles, tile_grid, tissue_mask

REAL = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "pathology" / "CMU-1-Small-Region.svs"
)
MPP, TILE = 0.5, 224


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def reading(path: Path) -> dict[str, Any]:
    """Our tissue detection, tiling and tile reads vs a bare OpenSlide loop, same tiles."""
    with open_slide(path) as reader:
        start = time.perf_counter()
        mask = tissue_mask(reader)
        tissue_s = time.perf_counter() - start
        start = time.perf_counter()
        tiles = tile_grid(reader, mask, MPP, TILE, 0, 0.5)
        grid_s = time.perf_counter() - start
        start = time.perf_counter()
        n = sum(1 for _ in read_tiles(reader, tiles, MPP, TILE))
        ours = _rate(n, time.perf_counter() - start)
        backend = reader.info.backend
        base_mpp = reader.info.mpp
    figures: dict[str, Any] = {
        "tiles": n,
        "backend": backend,
        "tissue_detection_s": round(tissue_s, 3),
        "tiling_s": round(grid_s, 4),
        "ours_tiles_per_s": ours,
    }
    try:
        slide = openslide.OpenSlide(str(path))
    except openslide.OpenSlideError as exc:
        figures["openslide"] = None
        figures["openslide_reason"] = f"OpenSlide cannot open it ({exc})"
        return figures
    size0 = round(TILE * MPP / base_mpp)
    start = time.perf_counter()
    for t in tiles:
        region = slide.read_region((t.x, t.y), 0, (size0, size0)).convert("RGB")
        if size0 != TILE:
            region = region.resize((TILE, TILE))
        np.asarray(region)
    bare = _rate(len(tiles), time.perf_counter() - start)
    slide.close()
    figures |= {"openslide_tiles_per_s": bare, "ratio_vs_openslide": round(ours / bare, 3)}
    return figures


def _tiny_cnn(folder: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
    ).eval()
    prep = json.dumps({"input_size": TILE, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})
    ts, onnx_path = folder / "cnn.pt", folder / "cnn.onnx"
    torch.jit.trace(model, torch.zeros(1, 3, TILE, TILE)).save(str(ts))
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, TILE, TILE),),
        str(onnx_path),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
    )
    for path in (ts, onnx_path):
        path.with_suffix(".preprocessing.json").write_text(prep)
    return ts, onnx_path


def extractors(folder: Path, tiles: np.ndarray) -> dict[str, float]:
    ts, onnx_path = _tiny_cnn(folder)
    out = {}
    for kind, path in (("histomorphometry", None), ("torchscript", ts), ("onnx", onnx_path)):
        fx = build_extractor(kind, path, mpp=MPP)
        fx.embed(tiles[:4])
        start = time.perf_counter()
        fx.embed(tiles)
        out[f"{kind}_tiles_per_s"] = _rate(len(tiles), time.perf_counter() - start)
    return out


def peak_memory(path: Path) -> float:
    """VmHWM (MiB) of a fresh process that extracts the whole slide with the default extractor."""
    code = (
        "import sys;from pathlib import Path;"
        "from accord.models.extractors import build_extractor;"
        "from accord.models._slide_features import extract_slide;"
        "from accord.wsi._cache import TilingParams;from accord.wsi._open import open_slide;"
        "r=open_slide(Path(sys.argv[1]));"
        "f=extract_slide(r,build_extractor('histomorphometry',None),TilingParams());"
        "hwm=[x for x in open('/proc/self/status') if x.startswith('VmHWM')][0].split()[1];"
        "print(hwm, f.n_tiles)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, check=True)
    kib, _ = out.stdout.split()
    return round(int(kib) / 1024, 1)


def peers() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in ("histolab", "tiatoolbox"):
        try:
            __import__(name)
            found[name] = "installed but not measured yet"
        except ImportError:
            found[name] = None
    found["reason"] = (
        "histolab 0.7 pins numpy<=1.24 (we need numpy 2); TIAToolbox 2.1.3 needs torch<2.13 "
        "with torchvision (only a multi-GB CUDA build is available here) and numpy<2.4.4"
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--sizes", default="4096,8192,16384")
    args = parser.parse_args()
    doc: dict[str, Any] = {"benchmark": "wsi", "mpp": MPP, "tile_px": TILE, "slides": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = {
            f"synthetic_{s}": write_slide(
                folder / f"s{s}.tif", width=int(s), height=int(s), seed=1, pen_marks=True
            ).path
            for s in args.sizes.split(",")
        }
        if REAL.exists():
            paths = {"cmu_small_region_svs": REAL, **paths}
        for name, path in paths.items():
            figures = reading(path)
            figures["peak_rss_mib"] = peak_memory(path)
            doc["slides"][name] = figures
            print(json.dumps({name: figures}), file=sys.stderr, flush=True)
        with open_slide(next(iter(paths.values()))) as reader:
            mask = tissue_mask(reader)
            grid = tile_grid(reader, mask, MPP, TILE, 0, 0.5)[:64]
            tiles = np.stack(list(read_tiles(reader, grid, MPP, TILE)))
        doc["extractors"] = extractors(folder, tiles)
    doc["peers"] = peers()
    ratios = [f["ratio_vs_openslide"] for f in doc["slides"].values() if "ratio_vs_openslide" in f]
    rss = [f["peak_rss_mib"] for k, f in doc["slides"].items() if k.startswith("synthetic")]
    doc["targets"] = {
        "reading_ge_0.8x_openslide": bool(ratios) and min(ratios) >= 0.8,
        "memory_flat": bool(rss) and max(rss) <= 1.25 * min(rss),
    }
    line = json.dumps(doc)
    print(line)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")


if __name__ == "__main__":
    main()
