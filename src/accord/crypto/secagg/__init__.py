"""Secure aggregation: Bonawitz et al. (CCS 2017) double masking with the SecAgg+ graph.

The hub (:class:`SecAggServer`) learns the sum of the surviving sites' clipped updates
and nothing about any single one; each site (:class:`SecAggClient`) masks its quantised
update with a self mask and pairwise masks that cancel in the sum. Shamir shares of the
mask seeds let the hub unmask the sum when up to ``n - t`` sites drop out; before
revealing a share each site checks that at least t survivors signed the survivor list
it signed itself (the consistency round). Values are encoded as 96-bit fixed point in
two 64-bit ring words (:class:`Quantizer`). The message flow is in
:mod:`accord.crypto.secagg._protocol`.
"""

from accord.crypto.secagg._graph import neighbours
from accord.crypto.secagg._prg import expand
from accord.crypto.secagg._protocol import (
    Advertisement,
    SecAggClient,
    SecAggConfig,
    SecAggServer,
    SurvivorList,
    UnmaskRequest,
    pack_bytes_map,
    threshold_floor,
    unpack_bytes_map,
)
from accord.crypto.secagg._quantize import Quantizer

__all__ = [
    "Advertisement",
    "Quantizer",
    "SecAggClient",
    "SecAggConfig",
    "SecAggServer",
    "SurvivorList",
    "UnmaskRequest",
    "expand",
    "neighbours",
    "pack_bytes_map",
    "threshold_floor",
    "unpack_bytes_map",
]
