"""A site's contribution (named arrays, weight, counts) as one flat vector, and back.

Secure aggregation masks vectors; this fixes the order: the weight first, then every array
in name order (C order), then every count in name order. Sites send the layout (names and
shapes, never values) so the hub can check that all contributions line up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from accord.core import AggregationError, Arrays

__all__ = ["Layout", "flatten", "unflatten"]


@dataclass(frozen=True)
class Layout:
    arrays: tuple[tuple[str, tuple[int, ...]], ...]
    counts: tuple[str, ...]

    @property
    def length(self) -> int:
        return 1 + sum(int(np.prod(shape)) for _, shape in self.arrays) + len(self.counts)

    def to_labels(self) -> tuple[str, ...]:
        arrays = [f"a:{name}:{'x'.join(str(d) for d in shape)}" for name, shape in self.arrays]
        return (*arrays, *(f"c:{name}" for name in self.counts))

    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> Layout:
        arrays: list[tuple[str, tuple[int, ...]]] = []
        counts: list[str] = []
        try:
            for label in labels:
                kind, rest = label.split(":", 1)
                if kind == "c":
                    counts.append(rest)
                    continue
                name, dims = rest.rsplit(":", 1)
                arrays.append((name, tuple(int(d) for d in dims.split("x")) if dims else ()))
        except ValueError:
            raise AggregationError("malformed contribution layout") from None
        return cls(tuple(arrays), tuple(counts))


def flatten(
    arrays: Mapping[str, np.ndarray], weight: float, counts: Mapping[str, int]
) -> tuple[np.ndarray, Layout]:
    names = sorted(arrays)
    layout = Layout(
        tuple((n, tuple(int(d) for d in np.shape(arrays[n]))) for n in names),
        tuple(sorted(counts)),
    )
    parts = [np.array([weight], dtype=np.float64)]
    parts += [np.asarray(arrays[n], dtype=np.float64).ravel() for n in names]
    parts.append(np.array([counts[c] for c in layout.counts], dtype=np.float64))
    return np.concatenate(parts), layout


def unflatten(vector: np.ndarray, layout: Layout) -> tuple[Arrays, float, dict[str, int]]:
    if vector.shape != (layout.length,):
        raise AggregationError(f"sum has {vector.size} values, layout expects {layout.length}")
    arrays: Arrays = {}
    offset = 1
    for name, shape in layout.arrays:
        size = int(np.prod(shape))
        arrays[name] = vector[offset : offset + size].reshape(shape)
        offset += size
    tail = vector[offset:]
    counts = {c: round(float(v)) for c, v in zip(layout.counts, tail, strict=True)}
    return arrays, float(vector[0]), counts
