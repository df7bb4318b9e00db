"""Named arrays <-> bytes (safetensors): how arrays cross every seam, never pickles."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from accord.core._errors import TransportError

__all__ = ["Arrays", "decode_arrays", "encode_arrays"]

Arrays = dict[str, np.ndarray]


def encode_arrays(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Serialise named arrays to safetensors bytes (contiguous copies, dtype kept)."""
    from safetensors.numpy import save  # here: accord.core imports with numpy alone

    return save({k: np.ascontiguousarray(v) for k, v in arrays.items()})


def decode_arrays(data: bytes) -> Arrays:
    """Parse safetensors bytes back into named arrays; malformed bytes raise TransportError."""
    if not data:
        return {}
    from safetensors.numpy import load

    try:
        return dict(load(data))
    except Exception as exc:  # safetensors raises its own error types
        raise TransportError(f"malformed array payload ({type(exc).__name__})") from exc
