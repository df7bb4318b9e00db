"""How long ``accord demo`` takes, in a fresh process, into a temporary folder.

    python bench/demo.py [--out FILE] [-- extra demo options]

The demo's stdout is a pipe, so it prints one timed line per step (``[  12.3 s] ...``,
:class:`accord.cli._progress.RunProgress`); the seconds between lines are summed per phase
(generation, every site's setup, each method's training, evaluation, local-only baselines,
heatmaps and report). Prints one JSON line (and writes it to FILE).
``cpu_s`` is the child's user + system CPU time, without its process pools' workers (they
are the forkserver's children, not the demo's): a figure of the demo's own process only.
Target (issue #18): ``seconds`` <= 120 on the idle 2-core machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_STEP = re.compile(r"^\[ *(\d+\.\d) s\] (.*)$")
_OWN = ("setting up the sites", "the report", "done")


def phase_of(text: str) -> str:
    """The phase a step line belongs to (``site01: set up ...`` → ``setup``)."""
    if text.startswith("generating"):
        return "generate"
    if text.endswith("setting up the sites") or ": set up" in text:
        return "setup"
    if "local-only" in text:
        return "local_only"
    if "evaluating" in text:
        return "evaluation"
    if ": round " in text:
        return "train:" + text.split(": round ")[0]
    return "report" if "results.json" in text else "other"


def phases(stdout: str, total_s: float) -> dict[str, float]:
    """Seconds per phase, from the timed step lines of a run's stdout; ``startup_and_exit``
    is the rest of ``total_s`` (imports before the first step, the summary after "done")."""
    steps = [(float(m[1]), m[2]) for line in stdout.splitlines() if (m := _STEP.match(line))]
    seconds: dict[str, float] = {}
    for (start, text), (end, after) in itertools.pairwise(steps):
        # a site's reply prints its line when the work is done: the time before it is its
        # phase; the command's own steps (_OWN) print theirs when they begin
        phase = phase_of(text if after.endswith(_OWN) else after)
        seconds[phase] = seconds.get(phase, 0.0) + end - start
    seconds["startup_and_exit"] = total_s - (steps[-1][0] - steps[0][0] if steps else 0.0)
    return {k: round(v, 1) for k, v in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("demo_args", nargs="*", help="extra options for accord demo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="accord-bench-demo-") as tmp:
        command = [sys.executable, "-m", "accord", "demo", "--out", f"{tmp}/demo"]
        start = time.perf_counter()
        child = subprocess.run([*command, *args.demo_args], capture_output=True, text=True)
        total = time.perf_counter() - start
    if child.returncode != 0:
        sys.exit(f"accord demo failed ({child.returncode}): {child.stderr or child.stdout}")
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures: dict[str, Any] = {
        "seconds": round(total, 1),
        "cpu_s": round(used.ru_utime + used.ru_stime, 1),  # the demo's process, pools aside
        "phases_s": phases(child.stdout, total),
        "args": args.demo_args,
    }
    line = json.dumps(figures)
    print(line)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")


if __name__ == "__main__":
    main()
