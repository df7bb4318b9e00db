"""Recording one entry on a running hub's ledger, signed with this organisation's own key
over mutual TLS (``ca revoke --hub``, ``consortium admit|remove --hub``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accord.core import ConfigError

__all__ = ["record_on_hub"]


def record_on_hub(
    hub: str,
    signing_key: Path | None,
    tls: Path | None,
    kind: str,
    payload: Mapping[str, Any],
) -> int:
    """Sign ``kind``/``payload`` with the key at ``signing_key`` and append it at ``hub``
    (a URL), authenticating with ``tls/{org}.crt``, ``{org}.tls.key`` and ``ca.crt``.

    Returns the entry's seq; :class:`ConfigError` when a file is not given.
    """
    import httpx

    from accord.crypto import TLSFiles, client_context, load_identity
    from accord.net import RemoteLedger

    if signing_key is None or tls is None:
        raise ConfigError("--hub needs --signing-key and --tls")
    identity = load_identity(signing_key)
    files = TLSFiles.for_org(tls, identity.org)
    context = client_context(files.cert, files.key, files.ca)
    with httpx.Client(base_url=hub, verify=context, timeout=30.0) as client:
        receipt = RemoteLedger(client).record(identity, kind, payload)
    return int(receipt.seq)
