"""Synthetic slide generation benchmark: seconds and peak memory per slide size.

    python bench/synth.py [--sizes 4096,20000] [--out FILE]

Each size is written by a fresh child process (:func:`accord.synth.write_slide`, the
pattern mix of the test suite, with pen marks) so that its peak resident memory (VmHWM) is
its own. Generation paints and writes one row of tiles at a time, so memory stays flat in
slide size; the figures were assertions in tests/synth/test_performance.py (10 s for a
4096-px slide, 60 s for 20000 px), which a loaded CI machine cannot time honestly. The memory
bounds stay tested there. One JSON line.
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

_CHILD = """
import sys
from pathlib import Path
from accord.synth import write_slide
size = int(sys.argv[2])
write_slide(Path(sys.argv[1]), width=size, height=size, seed=3,
            patterns={"macrotrabecular": 0.2, "vetc": 0.2, "immune": 0.1}, pen_marks=True)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(hwm[0].split()[1])
"""


def one(size: int, folder: Path) -> dict[str, Any]:
    path = folder / f"slide_{size}.ome.tif"
    start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(size)],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start  # includes the child's ~1 s of imports
    figures = {
        "seconds": round(seconds, 2),
        "megapixels_per_s": round(size * size / 1e6 / seconds, 1),
        "peak_rss_mib": round(int(child.stdout.split()[-1]) / 1024, 1),
        "file_mib": round(path.stat().st_size / 2**20, 1),
    }
    path.unlink()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,20000")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        slides = {str(s): one(int(s), Path(tmp)) for s in args.sizes.split(",")}
    doc = {"benchmark": "synth_slide", "slides": slides}
    line = json.dumps(doc)
    print(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")


if __name__ == "__main__":
    main()
