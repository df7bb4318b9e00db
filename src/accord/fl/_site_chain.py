"""The one factory for a site's middleware chain, used by simulation and site processes.

Order, outermost first::

    *first            deployment-only steps (ledger sync, remembering set-up state)
    ledger recorder   signs task.accepted / completed / refused; runs the site's policy
                      check before the data is touched (when the run has a ledger)
    secure aggregation  keeps the plain contribution at the site, sends only masked sums;
                      takes every secure-aggregation setting from the signed plan (``expect``)
    row-level guard   refuses any reply array with one entry per patient

so that a refusal is signed before anything runs, and the guard sees the plain reply
before it is masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from accord.core import Signer
from accord.fl._plan import ExpectSecure
from accord.fl._recording import LedgerRecorder, PolicyCheck
from accord.fl._secure_site import secure_aggregation_middleware
from accord.fl._site import Middleware, refuse_row_level_arrays

__all__ = ["site_middleware"]


def site_middleware(
    signer: Signer,
    public_key_of: Callable[[str], bytes],
    *,
    recorder: LedgerRecorder | None = None,
    policy: PolicyCheck | None = None,
    first: Sequence[Middleware] = (),
    expect: ExpectSecure | None = None,
) -> list[Middleware]:
    """The middleware of one site, outermost first.

    ``signer`` signs the site's ledger entries, its secure-aggregation advertisements and
    survivor lists; ``public_key_of(org)`` is the raw Ed25519 key the site trusts for
    ``org``; ``expect`` says what each task's signed plan expects of its secure rounds
    (see :func:`~accord.fl.secure_aggregation_middleware`; None: no governance).
    """
    chain: list[Middleware] = list(first)
    if recorder is not None:
        chain.append(recorder.middleware(signer, policy))
    chain.append(secure_aggregation_middleware(signer, public_key_of, expect=expect))
    chain.append(refuse_row_level_arrays)
    return chain
