"""CLI start-up benchmark: ``accord --help``, ``--version`` and every command's ``--help``.

    python bench/cli.py [--repeat 5] [--out FILE]

Each invocation runs in a fresh interpreter (``python -m accord ...``, best of ``--repeat``)
and is set against ``python -c "import typer"``, the floor for any typer command line. The
runs go round-robin, the floor timed next to every invocation, so that a burst of load on
a shared machine falls on both sides (the floor is the best of all its runs). One JSON
line: the floor, each invocation's best time and its ratio to the floor, and the worst
ratio (the issue's target is <= 1.5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

TARGET_RATIO = 1.5


def seconds(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def command_paths() -> Iterator[list[str]]:
    """Every group and command of the app, as argument lists (the root is ``[]``)."""
    import typer

    from accord.cli import app

    def walk(command: Any, path: list[str]) -> Iterator[list[str]]:
        yield path
        if hasattr(command, "list_commands"):
            for name in command.list_commands(None):
                yield from walk(command.get_command(None, name), [*path, name])

    yield from walk(typer.main.get_command(app), [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    accord = [sys.executable, "-m", "accord"]
    typer_only = [sys.executable, "-c", "import typer"]
    invocations = {"--version": [*accord, "--version"]}
    for path in command_paths():
        invocations[" ".join([*path, "--help"])] = [*accord, *path, "--help"]
    floor, runs = float("inf"), dict.fromkeys(invocations, float("inf"))
    for _ in range(args.repeat):
        for name, argv in invocations.items():
            floor = min(floor, seconds(typer_only))
            runs[name] = min(runs[name], seconds(argv))
    ratios = {name: round(s / floor, 2) for name, s in runs.items()}
    worst = max(ratios, key=ratios.__getitem__)
    line = json.dumps(
        {
            "bench": "cli",
            "repeat": args.repeat,
            "import_typer_s": round(floor, 4),
            "seconds": {name: round(s, 4) for name, s in runs.items()},
            "ratio": ratios,
            "root_help_ratio": ratios["--help"],
            "version_ratio": ratios["--version"],
            "median_ratio": round(statistics.median(ratios.values()), 2),
            "worst": {"invocation": worst, "ratio": ratios[worst]},
            "target_ratio": TARGET_RATIO,
            "met": ratios[worst] <= TARGET_RATIO,
        }
    )
    print(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")


if __name__ == "__main__":
    main()
