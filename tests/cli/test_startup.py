"""Every ``accord`` command starts fast: ``import accord.cli`` leaves the heavy stacks out.

Torch, opacus, lifelines, pandas, scipy and the packages built on them took ~5 s to import
before any command ran (even ``accord status --help``). The CLI modules import them in the
commands that use them; this pins it without timing anything.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "torch",
    "opacus",
    "lifelines",
    "matplotlib",
    "jinja2",
    "pandas",
    "scipy",
    "sklearn",
    "skimage",
    "httpx",
    "PIL",
    "tifffile",
    "accord.fl",
    "accord.models",
    "accord.services",
    "accord.survival",
    "accord.synth",
    "accord.wsi",
)


def test_importing_the_cli_leaves_the_heavy_stacks_out() -> None:
    code = (
        f"import sys, accord.cli; heavy = {HEAVY!r}; "
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "", f"import accord.cli imports {done.stdout.strip()}"
