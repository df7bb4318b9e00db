"""Core: errors, config schemas, hashing, array codec, ids. numpy only.

The array codec (numpy), the study schemas and the key checks (pydantic) import on first use
(:mod:`accord._lazy_face`): every command of the CLI imports its errors from here, and
``accord ledger --help`` need not wait for numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accord._lazy_face import lazy_face
from accord.core._errors import (
    AccordError,
    AggregationError,
    AuthError,
    ConfigError,
    ConvergenceError,
    DataError,
    EquivocationError,
    KeyFileError,
    LedgerError,
    MissingFileError,
    PolicyError,
    PrivacyError,
    SlideReadError,
    TransportError,
    format_rows,
)
from accord.core._files import write_bytes_atomic
from accord.core._hashing import canonical_json, floats_as_strings, sha256_hex
from accord.core._ids import new_id
from accord.core._json import MAX_JSON_DEPTH, MAX_JSON_INT, load_json, load_json_file
from accord.core._signer import MEMBER_ROLES, Signer
from accord.core._toml import load_toml

if TYPE_CHECKING:
    from accord.core._codec import Arrays, decode_arrays, encode_arrays
    from accord.core._config import (
        DEFAULT_TIME_BINS_DAYS,
        MIL_KINDS,
        CohortSpec,
        EvaluationSpec,
        FeatureKind,
        ModelSpec,
        PreprocessingSpec,
        PrivacySpec,
        StudySpec,
        TrainingSpec,
        dp_refusal,
        load_study,
    )
    from accord.core._suggest import check_keys, did_you_mean, validation_message

__all__ = [
    "DEFAULT_TIME_BINS_DAYS",
    "MAX_JSON_DEPTH",
    "MAX_JSON_INT",
    "MEMBER_ROLES",
    "MIL_KINDS",
    "AccordError",
    "AggregationError",
    "Arrays",
    "AuthError",
    "CohortSpec",
    "ConfigError",
    "ConvergenceError",
    "DataError",
    "EquivocationError",
    "EvaluationSpec",
    "FeatureKind",
    "KeyFileError",
    "LedgerError",
    "MissingFileError",
    "ModelSpec",
    "PolicyError",
    "PreprocessingSpec",
    "PrivacyError",
    "PrivacySpec",
    "Signer",
    "SlideReadError",
    "StudySpec",
    "TrainingSpec",
    "TransportError",
    "canonical_json",
    "check_keys",
    "decode_arrays",
    "did_you_mean",
    "dp_refusal",
    "encode_arrays",
    "floats_as_strings",
    "format_rows",
    "load_json",
    "load_json_file",
    "load_study",
    "load_toml",
    "new_id",
    "sha256_hex",
    "validation_message",
    "write_bytes_atomic",
]

# Each lazy name of the face and its private module (the TYPE_CHECKING imports above).
_LAZY = {
    "_codec": "Arrays decode_arrays encode_arrays",
    "_suggest": "check_keys did_you_mean validation_message",  # pydantic
    "_config": "DEFAULT_TIME_BINS_DAYS MIL_KINDS CohortSpec EvaluationSpec FeatureKind "
    "ModelSpec PreprocessingSpec PrivacySpec StudySpec TrainingSpec dp_refusal load_study",
}
__getattr__ = lazy_face(
    __name__, {name: home for home, names in _LAZY.items() for name in names.split()}
)
