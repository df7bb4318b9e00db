"""The identity of what a site runs: the SHA-256 of a canonical function archive.

The archive binds everything that reaches a site::

    {
      "format": 2,
      "config":  the whole study (StudySpec) every site holds, as canonical JSON
                 (floats as their repr strings): cohort columns and files,
                 preprocessing (min_cell_count), privacy, evaluation, pathology,
                 model, training;
      "variant": the sections a plan replaces ({} for the study itself), only
                 [model] and [training], which travel with the plan's tasks
                 (a clinical-only baseline trains another model on the same study);
      "code":    path (accord/fl/_site.py) -> SHA-256 of every module on a site's
                 execution path, sorted (accord.fl.governance._site_code)
    }

A data owner approves its hash. A site runs a plan's task only when its own study file
hashes to ``config``, its installed code to ``code``, and the plan's recorded config hash
and code hash are the function's (:func:`accord.fl.governance.check_task`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accord.core import ConfigError, StudySpec, canonical_json, floats_as_strings, sha256_hex
from accord.fl.governance._site_code import site_code

ARCHIVE_FORMAT = 2
PLAN_SECTIONS = ("model", "training")  # what a plan may change of the study the sites hold
_SUMMARY = (
    "study",
    "cohort",
    "preprocessing",
    "privacy",
    "model",
    "training",
    "evaluation",
    "pathology",
)
_MAX_CODE_LINES = 20


def study_config(study: StudySpec) -> dict[str, Any]:
    """A study as the archive holds it: its JSON form with floats as repr strings.

    Its :func:`digest` is the study's :meth:`~accord.core.StudySpec.config_hash`.
    """
    config: dict[str, Any] = floats_as_strings(study.model_dump(mode="json"))
    return config


def digest(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``value`` (floats refused: TypeError)."""
    return sha256_hex(canonical_json(value))


def function_archive(
    study: StudySpec,
    site_study: StudySpec | None = None,
    code: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The canonical archive of the function a plan of ``study`` runs.

    ``site_study`` is the study every site holds (default ``study``); ``study`` may differ
    from it only in :data:`PLAN_SECTIONS`, else ConfigError (the sites would run their
    own file's settings, not the plan's). ``code`` defaults to this installation's
    :func:`~accord.fl.governance._site_code.site_code`.
    """
    base = site_study or study
    differ = [
        name for name in type(study).model_fields if getattr(study, name) != getattr(base, name)
    ]
    stray = [name for name in differ if name not in PLAN_SECTIONS]
    if stray:
        sections = ", ".join(f"[{name}]" for name in stray)
        raise ConfigError(
            f"study '{study.study.name}': a plan differs from the study the sites hold in "
            f"{sections}; only [model] and [training] travel with a plan's tasks"
        )
    config = study_config(study)
    return {
        "format": ARCHIVE_FORMAT,
        "config": study_config(base),
        "variant": {name: config[name] for name in differ},
        "code": dict(sorted((code if code is not None else site_code()).items())),
    }


def plan_config(archive: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a plan of this function runs: the study with its variant."""
    return {**archive["config"], **archive["variant"]}


def archive_hash(archive: Mapping[str, Any]) -> str:
    """The function's identity: SHA-256 (hex) of its canonical archive."""
    return digest(archive)


def function_hash(study: StudySpec, site_study: StudySpec | None = None) -> str:
    """SHA-256 (hex) of the archive of ``study`` with this installation's site code."""
    return archive_hash(function_archive(study, site_study))


@dataclass(frozen=True)
class SiteInstall:
    """What a site holds itself: its study file (as an archive's ``config``) and the code
    installed on it (as an archive's ``code``)."""

    config: Mapping[str, Any]
    code: Mapping[str, str]

    @classmethod
    def of(cls, study: StudySpec, code: Mapping[str, str] | None = None) -> SiteInstall:
        """``study`` (the site's own file) with ``code`` (default: the installed code)."""
        return cls(study_config(study), dict(code if code is not None else site_code()))


def differing(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Sorted keys whose values differ between two mappings (absent counts as different)."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def changed_settings(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Sorted dotted names (``preprocessing.min_cell_count``) of the settings that differ."""
    return differing(_flatten("", before), _flatten("", after))


def shortlist(names: list[str], most: int = 3) -> str:
    """``a, b, c and 4 more``."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, item in value.items():
            out |= _flatten(f"{prefix}.{key}" if prefix else str(key), item)
        return out
    return {prefix: json.dumps(value)}


def _settings_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    a, b = _flatten("", before), _flatten("", after)
    lines = []
    for key in sorted(a.keys() | b.keys()):
        old, new = a.get(key), b.get(key)
        if old == new:
            continue
        if old is None:
            lines.append(f"+ {key} = {new}")
        elif new is None:
            lines.append(f"- {key} (was {old})")
        else:
            lines.append(f"~ {key}: {old} -> {new}")
    return lines


def _code_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    lines = []
    for path in differing(before, after):
        if path not in before:
            lines.append(f"+ code {path} (new file)")
        elif path not in after:
            lines.append(f"- code {path} (removed)")
        else:
            lines.append(f"~ code {path} (changed)")
    if len(lines) > _MAX_CODE_LINES:
        more = len(lines) - _MAX_CODE_LINES
        lines = [*lines[:_MAX_CODE_LINES], f"  ... and {more} more code files"]
    return lines


def _mapping(archive: Mapping[str, Any], part: str) -> Mapping[str, Any]:
    value = archive.get(part)
    return value if isinstance(value, Mapping) else {}


def _runs(archive: Mapping[str, Any]) -> dict[str, Any]:
    """What a plan of ``archive`` runs (its study with its variant), tolerating gaps."""
    return {**_mapping(archive, "config"), **_mapping(archive, "variant")}


def archive_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """Readable differences between two function archives.

    First every setting the plan runs with that differs (``config.preprocessing...``,
    the study with its variant applied), then, for sections a variant replaces in either,
    what differs in the study file the sites hold (``study file.model...``) and which
    sections the plan replaces, then every site-code file added, removed or changed.
    """
    if old is None:
        return ["(no earlier approved function to compare with)"]
    lines = _settings_diff({"config": _runs(old)}, {"config": _runs(new)})
    before, after = _mapping(old, "variant"), _mapping(new, "variant")
    held_before, held_after = _mapping(old, "config"), _mapping(new, "config")
    for name in sorted(before.keys() | after.keys()):  # hidden above by a variant
        lines += _settings_diff(
            {"study file": {name: _mapping(held_before, name)}},
            {"study file": {name: _mapping(held_after, name)}},
        )
    if sorted(before) != sorted(after):
        was = ", ".join(f"[{n}]" for n in sorted(before)) or "nothing"
        now = ", ".join(f"[{n}]" for n in sorted(after)) or "nothing"
        lines.append(f"~ the plan replaces {now} of the sites' study file (was {was})")
    lines += _code_diff(_mapping(old, "code"), _mapping(new, "code"))
    return lines or ["(identical settings and code)"]


def _values(section: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str:
    shown = [f"{k} {json.dumps(v)}" for k, v in sorted(section.items()) if k not in skip]
    return ", ".join(shown) or "(defaults)"


def _cohort_lines(cohort: Mapping[str, Any]) -> list[str]:
    features = cohort.get("features")
    columns = (
        ", ".join(f"{name} ({kind})" for name, kind in sorted(features.items()))
        if isinstance(features, Mapping)
        else "?"
    )
    return [
        f"cohort columns: {columns}",
        f"cohort: {_values(cohort, skip=('features',))}",
    ]


def archive_summary(archive: Mapping[str, Any]) -> list[str]:
    """What a data owner approves, readably: the study's cohort columns, preprocessing
    (``min_cell_count``), privacy, model, training and evaluation; the plan's variant;
    and the site code (file count and hash)."""
    config = _mapping(archive, "config")
    lines = []
    for name in _SUMMARY:
        section = _mapping(config, name)
        if name == "cohort":
            lines += _cohort_lines(section)
        else:
            lines.append(f"{name}: {_values(section)}")
    for name, section in sorted(_mapping(archive, "variant").items()):
        shown = _values(section) if isinstance(section, Mapping) else json.dumps(section)
        lines.append(f"this plan's {name} instead: {shown}")
    code = _mapping(archive, "code")
    hashed = digest(dict(code)) if code else "-"
    lines.append(f"site code: {len(code)} files, code hash {hashed[:16]}")
    return lines
