"""Every ``accord`` command starts fast: ``import accord.cli`` leaves the heavy stacks out.

Torch, opacus, lifelines, pandas, scipy and the packages built on them took ~5 s to import
before any command ran (even ``accord status --help``). The CLI modules import them in the
commands that use them; this pins it without timing anything.
"""

from __future__ import annotations

import json
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


# The stacks no help or version output may import (the list and the rest of the
# scientific stack), and the markup that must not reach a terminal.
NOT_FOR_HELP = (
    "torch",
    "pandas",
    "scipy",
    "fastapi",
    "uvicorn",
    "matplotlib",
    "jinja2",
    "lifelines",
    "sklearn",
    "opacus",
    "httpx",
)
RAW_MARKUP = ("``", ":func:", ":class:", ":meth:", ":mod:", "\f")

# One fresh interpreter walks the whole typer app: every group's and command's --help in
# turn, recording the first command after which a heavy module was present and any help
# that shows raw markup or fails.
_WALK = """
import json, sys
import typer
from typer.testing import CliRunner
from accord.cli import app

heavy, markup = {heavy!r}, {markup!r}

def walk(command, path):
    yield path
    if hasattr(command, "list_commands"):
        for name in command.list_commands(None):
            yield from walk(command.get_command(None, name), [*path, name])

runner, found = CliRunner(), {{"paths": [], "heavy": {{}}, "markup": {{}}, "failed": {{}}}}
for path in walk(typer.main.get_command(app), []):
    shown = runner.invoke(app, [*path, "--help"], terminal_width=100)
    key = " ".join(path) or "(root)"
    found["paths"].append(key)
    if shown.exit_code != 0:
        found["failed"][key] = shown.output[-300:]
    bad = [m for m in markup if m in shown.output]
    if bad:
        found["markup"][key] = bad
    for module in heavy:
        if module in sys.modules and module not in found["heavy"]:
            found["heavy"][module] = key
print(json.dumps(found))
"""


def test_every_help_is_plain_and_imports_no_heavy_stack() -> None:
    code = _WALK.format(heavy=NOT_FOR_HELP, markup=RAW_MARKUP)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"ledger verify", "site dataset add", "hub enroll", "run", "demo"} <= set(found["paths"])
    assert found["failed"] == {}
    assert found["heavy"] == {}, "module: the --help that first imported it"
    assert found["markup"] == {}


def test_root_help_and_version_import_no_command_module() -> None:
    """The root lists its commands from their one-line helps: no pydantic, numpy, crypto."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from accord.cli import app\n"
        "runner = CliRunner()\n"
        "out = [runner.invoke(app, a).output for a in (['--help'], ['--version'])]\n"
        "assert 'ledger' in out[0] and 'accord ' in out[1], out\n"
        "print(','.join(sorted(m for m in ('accord.core', 'pydantic', 'numpy', "
        "'cryptography', 'accord.cli._ledger') if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""


def test_root_lists_each_lazy_command_with_the_line_it_shows_once_loaded() -> None:
    import typer

    from accord.cli import app

    root = typer.main.get_command(app)
    lazy = type(root).lazy  # type: ignore[attr-defined]
    for name, entry in lazy.items():
        loaded = root.get_command(None, name)  # type: ignore[attr-defined,arg-type]
        assert loaded is not None and loaded.name == name
        assert loaded.get_short_help_str(limit=200) == entry.help


def test_plain_help_strips_rest_and_unwraps_paragraphs() -> None:
    from accord.cli._lazy import plain_help

    text = (
        "Run ``accord status`` after :func:`accord.studies.run_study`;\n"
        "see `PLAN` and the [retention] table.\n\n"
        "- one bullet\n- another\n  continued\n\fhidden"
    )
    assert plain_help(text) == (
        "Run accord status after run_study; see PLAN and the [retention] table.\n\n"
        "- one bullet\n- another continued"
    )


def test_every_name_of_the_lazy_core_and_crypto_faces_resolves() -> None:
    import accord.core
    import accord.crypto

    for face in (accord.core, accord.crypto):
        missing = [n for n in face.__all__ if getattr(face, n, None) is None]
        assert missing == [], face.__name__
