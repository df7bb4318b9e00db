"""RFC 6962 Merkle tree: hand-computed cases, pymerkle as reference, Hypothesis properties.

What we found about pymerkle 7 (``InmemoryTree(algorithm="sha256")``), checked by hand below:

* it prefixes like RFC 6962 by default (``security=True``): leaf = SHA-256(0x00 || data),
  node = SHA-256(0x01 || left || right), and the empty root is SHA-256(b"");
* its roots and inclusion paths are RFC 6962's, except that the path starts with the leaf
  hash itself (``proof.path[1:]`` is RFC ``PATH``) and indices count from 1;
* its consistency proofs are *not* RFC 6962 ``PROOF``: it always sends a base hash and
  splits at ``m >= k`` (RFC: ``m <= k``), with its own ``rule``/``subset`` bits. So for
  consistency we check against an independent recursive RFC 6962 reference written here,
  and cross-check roots and pymerkle's own proof verification against our roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree  # type: ignore[import-untyped]

from accord.ledger._merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

BIG = 1100


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _data(i: int) -> bytes:
    return f"entry-{i}".encode()


class _Tree:
    """Leaves and every completed perfect node of a tree, built with CompactRange."""

    def __init__(self, size: int) -> None:
        self.leaves = [leaf_hash(_data(i)) for i in range(size)]
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.compact = CompactRange()
        for leaf in self.leaves:
            for level, index, node in self.compact.append(leaf):
                self.nodes[(level, index)] = node
        self.lookups = 0

    def get(self, level: int, index: int) -> bytes:
        self.lookups += 1
        return self.nodes[(level, index)]


TREE = _Tree(BIG)
PYMERKLE = InmemoryTree(algorithm="sha256")
for _i in range(BIG):
    PYMERKLE.append_entry(_data(_i))


# --- an independent, recursive RFC 6962 reference over a list of leaf hashes ----------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return _sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return _sha(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _shape(index: int, size: int) -> list[bool]:
    """Bottom-up 'sibling is on the right' flags of RFC PATH(index, D[size])."""
    if size <= 1:
        return []
    k = _k(size)
    if index < k:
        return [*_shape(index, k), True]
    return [*_shape(index - k, size - k), False]


# --- hand-computed cases ----------------------------------------------------------------


def test_hashes_use_rfc6962_prefixes() -> None:
    assert _sha(b"") == EMPTY_ROOT
    assert leaf_hash(b"a") == _sha(b"\x00a")
    assert node_hash(b"L" * 32, b"R" * 32) == _sha(b"\x01" + b"L" * 32 + b"R" * 32)


def test_pymerkle_default_is_rfc6962_by_hand() -> None:
    d = [_data(i) for i in range(3)]
    l0, l1, l2 = (_sha(b"\x00" + x) for x in d)
    assert PYMERKLE.get_root(0) == _sha(b"")
    assert PYMERKLE.get_root(1) == l0
    assert PYMERKLE.get_root(2) == _sha(b"\x01" + l0 + l1)
    assert PYMERKLE.get_root(3) == _sha(b"\x01" + _sha(b"\x01" + l0 + l1) + l2)
    assert PYMERKLE.prove_inclusion(3, 3).path == [l2, _sha(b"\x01" + l0 + l1)]


def test_rfc6962_consistency_example_tree_of_seven() -> None:
    """RFC 6962 §2.1.3: PROOF(3, D[7]) = [c, d, g, l]; PROOF(4, D[7]) = [l]; PROOF(6, D[7])."""
    leaves, get = TREE.leaves, TREE.get
    c, d = leaves[2], leaves[3]
    g = node_hash(leaves[0], leaves[1])
    i, j = node_hash(leaves[4], leaves[5]), leaves[6]
    k = node_hash(c, d)
    l_node = node_hash(i, j)
    assert consistency_proof(3, 7, get) == [c, d, g, l_node]
    assert consistency_proof(4, 7, get) == [l_node]
    assert consistency_proof(6, 7, get) == [i, j, node_hash(g, k)]


def test_edge_sizes() -> None:
    get = TREE.get
    assert root_of(0, get) == EMPTY_ROOT == CompactRange().root()
    assert consistency_proof(0, 5, get) == consistency_proof(5, 5, get) == []
    assert inclusion_proof(0, 1, get) == []
    root5 = root_of(5, get)
    assert verify_consistency(5, 5, root5, root5, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, root5, [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(5, 5, root5, root_of(4, get), [])
    assert not verify_consistency(5, 5, root5, root5, [root5])
    assert not verify_consistency(0, 5, root5, root5, [])
    assert verify_inclusion(TREE.leaves[0], 0, 1, [], TREE.leaves[0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g: inclusion_proof(5, 5, g), "out of range"),
        (lambda g: inclusion_proof(-1, 5, g), "out of range"),
        (lambda g: consistency_proof(6, 5, g), "larger than"),
        (lambda g: root_of(-1, g), "non-negative"),
        (lambda g: CompactRange.from_nodes(-2, g), "non-negative"),
        (lambda g: CompactRange().append(b"short"), "32 bytes"),
    ],
)
def test_bad_arguments_raise(
    call: Callable[[Callable[[int, int], bytes]], object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        call(TREE.get)


def test_verify_never_raises_on_garbage() -> None:
    leaf, root = TREE.leaves[0], root_of(4, TREE.get)
    garbage: list[object] = [None, "x", b"", [b"short"], [None], 3]
    for proof in garbage:
        assert not verify_inclusion(leaf, 0, 4, proof, root)  # type: ignore[arg-type]
        assert not verify_consistency(1, 4, leaf, root, proof)  # type: ignore[arg-type]
    good = inclusion_proof(0, 4, TREE.get)
    for index, size in [(-1, 4), (4, 4), (0, 0), (True, 4), (0, -4), (1.0, 4)]:
        assert not verify_inclusion(leaf, index, size, good, root)  # type: ignore[arg-type]
    assert not verify_inclusion(b"short", 0, 4, good, root)
    assert not verify_inclusion(leaf, 0, 4, good, None)  # type: ignore[arg-type]
    assert not verify_consistency(4, 1, root, leaf, [])
    assert not verify_consistency(-1, 4, leaf, root, [])


# --- against pymerkle and the recursive reference ------------------------------------------


@pytest.mark.parametrize("size", [*range(1, 71), 127, 128, 129, 255, 511, 777, 1024, BIG])
def test_roots_and_inclusion_match_pymerkle(size: int) -> None:
    root = root_of(size, TREE.get)
    assert root == PYMERKLE.get_root(size) == _mth(TREE.leaves[:size])
    assert CompactRange.from_nodes(size, TREE.get).root() == root
    indices = range(size) if size <= 70 else range(0, size, max(1, size // 37))
    for index in indices:
        proof = inclusion_proof(index, size, TREE.get)
        reference = PYMERKLE.prove_inclusion(index + 1, size).path
        assert reference[0] == TREE.leaves[index]
        assert proof == reference[1:] == _path(index, TREE.leaves[:size])
        assert verify_inclusion(TREE.leaves[index], index, size, proof, root)


@pytest.mark.parametrize("new_size", [*range(1, 71), 129, 700, BIG])
def test_consistency_matches_rfc_reference_and_pymerkle_roots(new_size: int) -> None:
    new_root = root_of(new_size, TREE.get)
    olds = range(1, new_size + 1) if new_size <= 70 else range(1, new_size + 1, new_size // 23)
    for old_size in olds:
        old_root = root_of(old_size, TREE.get)
        proof = consistency_proof(old_size, new_size, TREE.get)
        assert proof == _subproof(old_size, TREE.leaves[:new_size], True)
        assert verify_consistency(old_size, new_size, old_root, new_root, proof)
        # pymerkle accepts its own proof against our roots
        PYMERKLE.prove_consistency(old_size, new_size).verify(old_root, new_root)


def test_proofs_need_few_lookups() -> None:
    tree = _Tree(3000)
    for size in (1000, 2047, 2048, 2049, 3000):
        tree.lookups = 0
        inclusion_proof(size // 3, size, tree.get)
        consistency_proof(size // 2 + 1, size, tree.get)
        root_of(size, tree.get)
        assert tree.lookups <= 4 * size.bit_length() ** 2 // 3


# --- Hypothesis properties -------------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=BIG)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(min_value=2, max_value=BIG))
    return draw(st.integers(min_value=1, max_value=new - 1)), new


def _alterations(proof: list[bytes]) -> list[list[bytes]]:
    """Every one-bit flip of every element, drops, additions, swaps, truncation."""
    out: list[list[bytes]] = []
    for i, element in enumerate(proof):
        for bit in range(256):
            flipped = bytearray(element)
            flipped[bit // 8] ^= 1 << (bit % 8)
            out.append([*proof[:i], bytes(flipped), *proof[i + 1 :]])
        out.append(proof[:i] + proof[i + 1 :])
        out.append([*proof[:i], proof[i], *proof[i:]])
        for j in range(i + 1, len(proof)):
            if proof[i] != proof[j]:
                swapped = list(proof)
                swapped[i], swapped[j] = swapped[j], swapped[i]
                out.append(swapped)
    out.append([*proof, EMPTY_ROOT])
    out.append([EMPTY_ROOT, *proof])
    return out


@settings(max_examples=60, deadline=None)
@given(size_and_index())
def test_inclusion_proofs_verify_and_alterations_fail(case: tuple[int, int]) -> None:
    size, index = case
    leaf, root = TREE.leaves[index], root_of(size, TREE.get)
    proof = inclusion_proof(index, size, TREE.get)
    assert verify_inclusion(leaf, index, size, proof, root)
    for altered in _alterations(proof):
        assert not verify_inclusion(leaf, index, size, altered, root)
    for other in {index - 1, index + 1, 0, size - 1, size} - {index, -1}:
        assert not verify_inclusion(leaf, other, size, proof, root)
    assert not verify_inclusion(TREE.leaves[(index + 1) % BIG], index, size, proof, root)


@settings(max_examples=60, deadline=None)
@given(size_and_index(), st.integers(min_value=1, max_value=BIG))
def test_inclusion_with_wrong_size_fails(case: tuple[int, int], wrong: int) -> None:
    """A wrong size fails against that size's root; against the true root it fails unless
    the path has the same shape -- RFC 9162 binds the size only through the path shape."""
    size, index = case
    assume(wrong != size and index < wrong)
    proof = inclusion_proof(index, size, TREE.get)
    leaf = TREE.leaves[index]
    assert not verify_inclusion(leaf, index, wrong, proof, root_of(wrong, TREE.get))
    accepted = verify_inclusion(leaf, index, wrong, proof, root_of(size, TREE.get))
    assert accepted == (_shape(index, wrong) == _shape(index, size))


def test_inclusion_size_is_bound_only_by_shape_documented_example() -> None:
    proof = inclusion_proof(0, 3, TREE.get)
    assert verify_inclusion(TREE.leaves[0], 0, 4, proof, root_of(3, TREE.get))


@settings(max_examples=60, deadline=None)
@given(old_and_new())
def test_consistency_proofs_verify_and_alterations_fail(case: tuple[int, int]) -> None:
    old, new = case
    old_root, new_root = root_of(old, TREE.get), root_of(new, TREE.get)
    proof = consistency_proof(old, new, TREE.get)
    assert verify_consistency(old, new, old_root, new_root, proof)
    for altered in _alterations(proof):
        assert not verify_consistency(old, new, old_root, new_root, altered)
    assert not verify_consistency(new, old, new_root, old_root, proof)
    assert not verify_consistency(old, new, new_root, old_root, proof)
    assert not verify_consistency(old, new, old_root, root_of(new - 1, TREE.get), proof)
    assert not verify_consistency(old, new, old_root, EMPTY_ROOT, proof)


@settings(max_examples=60, deadline=None)
@given(old_and_new(), st.integers(min_value=1, max_value=BIG), st.integers(0, BIG))
def test_consistency_with_wrong_sizes_and_their_roots_fails(
    case: tuple[int, int], old2: int, new2: int
) -> None:
    old, new = case
    assume((old2, new2) != (old, new) and old2 <= new2)
    proof = consistency_proof(old, new, TREE.get)
    roots = root_of(old2, TREE.get), root_of(new2, TREE.get)
    assume(old2 != new2)  # equal sizes take the empty-proof edge case
    assert not verify_consistency(old2, new2, *roots, proof)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=BIG), st.integers(min_value=0, max_value=BIG))
def test_compact_range_matches_root_of_and_pymerkle(size: int, extra: int) -> None:
    extra = min(extra, BIG - size)
    compact = CompactRange.from_nodes(size, TREE.get)
    assert compact.size == size
    assert compact.root() == root_of(size, TREE.get) == PYMERKLE.get_root(size)
    for i in range(size, size + extra):
        completed = compact.append(TREE.leaves[i])
        assert completed[0] == (0, i, TREE.leaves[i])
        for level, index, node in completed:
            assert TREE.nodes[(level, index)] == node
    assert compact.root() == PYMERKLE.get_root(size + extra)
