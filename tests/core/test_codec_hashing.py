import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import (
    AccordError,
    DataError,
    TransportError,
    canonical_json,
    decode_arrays,
    encode_arrays,
    format_rows,
    sha256_hex,
)


@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4))))
def test_arrays_round_trip(a: np.ndarray) -> None:
    out = decode_arrays(encode_arrays({"x": a, "y": np.arange(3)}))
    np.testing.assert_array_equal(out["x"], a)
    assert out["y"].dtype == np.arange(3).dtype


def test_malformed_payload_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="malformed array payload"):
        decode_arrays(b"\x00garbage")


def test_canonical_json_is_sorted_and_rejects_floats() -> None:
    assert canonical_json({"b": 1, "a": [2, "x"]}) == b'{"a":[2,"x"],"b":1}'
    with pytest.raises(TypeError, match="floats"):
        canonical_json({"a": 0.5})
    assert len(sha256_hex(b"")) == 64


def test_errors_carry_exit_codes_and_format_rows() -> None:
    assert issubclass(DataError, AccordError) and issubclass(DataError, ValueError)
    assert DataError.exit_code != AccordError.exit_code
    assert format_rows([3]) == "row 3"
    assert format_rows([1, 2, 3, 4, 5, 6, 7]) == "rows 1, 2, 3, 4, 5 and 2 more"
