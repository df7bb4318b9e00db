"""RFC 6962 / RFC 9162 Merkle tree over SHA-256: hashing, roots, proofs and their checks.

Leaves are hashed as ``SHA-256(0x00 || data)`` and interior nodes as
``SHA-256(0x01 || left || right)``; the root of an empty tree is ``SHA-256(b"")``.

Trees are not held in memory. Roots and proofs are computed from the roots of
*perfect* subtrees, read through a :data:`NodeGetter` ``(level, index) -> hash``
where ``(level, index)`` names the subtree over leaves
``[index * 2**level, (index + 1) * 2**level)`` (level 0 is the leaf hash itself).
A store keeps every completed perfect subtree (see :class:`CompactRange`), so a
root costs O(log n) look-ups and a proof O(log n) as well: every range a proof
needs decomposes into at most log2(n) aligned perfect subtrees.

The ``verify_*`` functions follow RFC 9162 §2.1.3.2 and §2.1.4.2 and return
``False`` -- never raise -- on any malformed input. Note that, as in the RFC, an
inclusion or consistency proof binds the tree sizes only through the *shape* of the
path: callers must take sizes from a signed checkpoint, not from the prover.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "NodeGetter",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

NodeGetter = Callable[[int, int], bytes]
"""``(level, index) -> hash`` of the perfect subtree over leaves ``[index, index+1) * 2**level``."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class CompactRange:
    """The frontier of a growing tree: the roots of its maximal perfect subtrees, left to right.

    One hash per set bit of ``size``; an append costs O(log n) hashes and reports the
    perfect subtrees it completed so that a store can persist them.
    """

    def __init__(self) -> None:
        self._size = 0
        self._frontier: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf *hash*; return the perfect subtrees it completed.

        Items are ``(level, index, hash)``. The first is always ``(0, old_size, leaf)``;
        each further one is the parent of the one before.
        """
        _check_hash(leaf, "leaf")
        completed = [(0, self._size, leaf)]
        node, index, level = leaf, self._size, 0
        while index & 1:
            node = node_hash(self._frontier.pop(), node)
            index >>= 1
            level += 1
            completed.append((level, index, node))
        self._frontier.append(node)
        self._size += 1
        return completed

    def copy(self) -> CompactRange:
        """An independent copy (to append tentatively, e.g. inside a transaction)."""
        other = CompactRange()
        other._size, other._frontier = self._size, list(self._frontier)
        return other

    def root(self) -> bytes:
        """The RFC 6962 root of the leaves appended so far (``EMPTY_ROOT`` if none)."""
        return _fold(self._frontier)

    @classmethod
    def from_nodes(cls, size: int, get_node: NodeGetter) -> CompactRange:
        """Rebuild the frontier of a stored tree of ``size`` leaves in O(log n) look-ups."""
        _check_size(size, "size")
        compact = cls()
        compact._frontier = [get_node(level, offset >> level) for level, offset in _pieces(0, size)]
        compact._size = size
        return compact


def root_of(size: int, get_node: NodeGetter) -> bytes:
    """MTH of the first ``size`` leaves, from at most log2(size) + 1 stored perfect subtrees."""
    _check_size(size, "size")
    return _range_root(0, size, get_node)


def inclusion_proof(index: int, size: int, get_node: NodeGetter) -> list[bytes]:
    """RFC 6962 ``PATH(index, D[size])``: sibling hashes from the leaf up to the root."""
    _check_size(size, "size")
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} out of range for a tree of size {size}")
    siblings: list[bytes] = []  # collected top-down, returned bottom-up
    start, width = 0, size
    while width > 1:
        k = _split(width)
        if index < start + k:
            siblings.append(_range_root(start + k, width - k, get_node))
            width = k
        else:
            siblings.append(_range_root(start, k, get_node))
            start, width = start + k, width - k
    siblings.reverse()
    return siblings


def consistency_proof(old_size: int, new_size: int, get_node: NodeGetter) -> list[bytes]:
    """RFC 6962 ``PROOF(old_size, D[new_size])``; empty if ``old_size`` is 0 or ``new_size``."""
    _check_size(old_size, "old_size")
    _check_size(new_size, "new_size")
    if old_size > new_size:
        raise ValueError(f"old_size {old_size} is larger than new_size {new_size}")
    if old_size in (0, new_size):
        return []
    outer: list[bytes] = []  # SUBPROOF appends after recursing: collected outside-in
    start, m, n, complete = 0, old_size, new_size, True
    while m != n:
        k = _split(n)
        if m <= k:
            outer.append(_range_root(start + k, n - k, get_node))
            n = k
        else:
            outer.append(_range_root(start, k, get_node))
            start, m, n, complete = start + k, m - k, n - k, False
    base = [] if complete else [_range_root(start, n, get_node)]
    return base + outer[::-1]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` put leaf *hash* ``leaf`` at ``index`` under ``root``?"""
    if not (_is_size(index) and _is_size(size) and index < size):
        return False
    if not (_is_hash(leaf) and _is_hash(root) and _all_hashes(proof)):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                fn, sn = _shift_until_odd(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree ``new_root`` an extension of the tree ``old_root``?

    Edge cases: equal sizes need an empty proof and equal roots; ``old_size == 0``
    needs an empty proof and ``old_root == EMPTY_ROOT`` (the empty tree is a prefix of all).
    """
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root) and _all_hashes(proof)):
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    return _check_consistency_path(old_size, new_size, old_root, new_root, proof)


def _check_consistency_path(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Steps 1-7 of RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``."""
    path = list(proof)
    if not path:
        return False
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                fn, sn = _shift_until_odd(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def _shift_until_odd(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift both until ``fn`` is odd or zero (RFC 9162's inner loop)."""
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _pieces(start: int, width: int) -> list[tuple[int, int]]:
    """Decompose ``[start, start + width)`` into aligned perfect subtrees ``(level, offset)``.

    Valid for every range that RFC 6962's recursion visits: ``start`` is then a
    multiple of the smallest power of two that is at least ``width``.
    """
    pieces = []
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            pieces.append((level, start))
            start += 1 << level
    return pieces


def _range_root(start: int, width: int, get_node: NodeGetter) -> bytes:
    """MTH of the leaves ``[start, start + width)`` (an RFC-aligned range)."""
    return _fold([get_node(level, offset >> level) for level, offset in _pieces(start, width)])


def _fold(roots: Sequence[bytes]) -> bytes:
    """Combine perfect-subtree roots, left to right, into the root of their concatenation."""
    if not roots:
        return EMPTY_ROOT
    acc = roots[-1]
    for left in reversed(roots[:-1]):
        acc = node_hash(left, acc)
    return acc


def _check_size(size: int, name: str) -> None:
    if not _is_size(size):
        raise ValueError(f"{name} must be a non-negative int, got {type(size).__name__}")


def _check_hash(value: bytes, name: str) -> None:
    if not _is_hash(value):
        raise ValueError(f"{name} must be {HASH_SIZE} bytes")


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _all_hashes(proof: object) -> bool:
    return isinstance(proof, Sequence) and all(_is_hash(p) for p in proof)
