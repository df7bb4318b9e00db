"""Secure aggregation, one (plan, round): the five rounds of Bonawitz et al. (CCS 2017).

Double masking with Shamir recovery, over the sparse SecAgg+ graph of Bell et al.
(CCS 2020) when ``config.k`` is set. Every arrow goes through the hub (sites only open
outbound connections); "i" is a site, N(i) its neighbours, H(i) = N(i) ∪ {i} the holders
of its shares, t the threshold, L the vector length::

    round 0  advertise      i → hub      Advertisement(plan, round, i, c_pk, s_pk, sig_i)
                            hub → all    every advertisement      (missing sites: dropped)
    round 1  share_keys     i → hub      {j: AES-GCM_{c_ij}(share_j(b_i) ‖ share_j(s_sk_i))}
                                         for j in N(i) that advertised; i keeps its own pair
                            hub → j      {i: sealed} from every i that shared keys
    round 2  masked_input   i → hub      y_i = Q(x_i) + PRG(b_i) + Σ_{j} ±PRG(s_ij)  (2L uint64
                                         words, mod 2^64) over the j whose shares reached i
                            hub → U3     SurvivorList(survivors U3, dropped U2 \\ U3)
    round 3  consistency    i → hub      σ_i = Sign_i(plan, round, session, U3, dropped)
                                         (once per round; session = digest of the adverts)
                            hub → U4     UnmaskRequest(U3, dropped, {j: σ_j} for j in U4)
    round 4  unmask         i → hub      only if the lists are the ones i signed and >= t
                                         survivors' signatures over them all verify:
                                         {j: share_i(b_j)} for j in U3 ∩ H(i),
                                         {j: share_i(s_sk_j)} for j in dropped ∩ H(i)
             finalize       hub          Σ_{U3} y_i − Σ_{U3} PRG(b_i)
                                         − Σ_{i∈U3, j dropped} ±PRG(s_ij)  →  Q⁻¹(sum)

Keys and seeds: c and s are fresh X25519 pairs per (plan, round), the advertisement is
signed with the site's Ed25519 identity over (plan, round, site, c_pk, s_pk) and checked
by every neighbour. ``c_ij`` = HKDF(X25519(c_sk_i, c_pk_j), info=plan|round|i|j) with
associated data binding (plan, round, sender, recipient). ``s_ij`` = X25519(s_sk_i,
s_pk_j), expanded by :func:`accord.crypto.secagg._prg.expand` with info
plan|round|min(i,j)|max(i,j); ``b_i`` is 32 random bytes expanded with info
plan|round|i. ``+`` when i sorts before j, ``-`` otherwise.

Privacy: a site reveals, for any other site, a share of b or of s_sk but never both,
and never its own s_sk share while it is active; it answers one unmask request, for the
one survivor list it signed. A hub that shows honest sites different lists (to collect
b shares of a site from some and its s_sk shares from others) needs t signatures over
each list; an honest site signs one, so with c colluding holders it succeeds only if
2t <= |H(i)| + c, and sites accept no t below ceil(2|H(i)|/3)
(:func:`accord.crypto.secagg._config.threshold_floor`): every masked vector the hub
holds keeps a mask it cannot remove while fewer than a third of the holders collude.
Sites that drop after round 2 simply send no signature or no unmask reply; the hub
needs t signatures and t shares per secret and otherwise raises
:class:`AggregationError` ("fewer than t shares for site X").
"""

from accord.crypto.secagg._client import SecAggClient
from accord.crypto.secagg._config import SecAggConfig, threshold_floor
from accord.crypto.secagg._messages import (
    Advertisement,
    SurvivorList,
    UnmaskRequest,
    pack_bytes_map,
    unpack_bytes_map,
)
from accord.crypto.secagg._server import SecAggServer

__all__ = [
    "Advertisement",
    "SecAggClient",
    "SecAggConfig",
    "SecAggServer",
    "SurvivorList",
    "UnmaskRequest",
    "pack_bytes_map",
    "threshold_floor",
    "unpack_bytes_map",
]
