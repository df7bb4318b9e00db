"""The container's HEALTHCHECK: ``GET /v1/health`` of the hub this container serves.

    python healthcheck.py /var/lib/accord/hub/hub.toml

Reads ``[hub] listen`` and the ``[tls]`` files of ``hub.toml`` (relative to its folder) and
asks the hub on loopback, presenting the hub's own certificate: the consortium CA issues
every certificate for client and server use, and the hub asks every caller for one
(mutual TLS). The host name is not checked (the probe talks to itself on 127.0.0.1); the
CA still is. The key's passphrase comes from ``$ACCORD_KEY_PASSPHRASE``, as for the hub.
Exit code 0 when the hub answers ``{"status": "ok"}``, else 1 with the reason on stderr.

Only the standard library: a probe every 30 s should not import the whole of accord.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import sys
import tomllib
from pathlib import Path


def probe(config: Path, timeout_s: float = 5.0) -> str | None:
    """None when the hub answers that it is healthy, else why not."""
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    port = int(str(data["hub"]["listen"]).rpartition(":")[2])
    tls = data.get("tls", {})
    if tls.get("insecure", False):
        connection: http.client.HTTPConnection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=timeout_s
        )
    else:
        folder = config.parent
        context = ssl.create_default_context(cafile=str(folder / tls["ca"]))
        context.check_hostname = False
        context.load_cert_chain(
            folder / tls["cert"],
            folder / tls["key"],
            password=os.environ.get("ACCORD_KEY_PASSPHRASE") or b"",  # never a prompt
        )
        connection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=timeout_s, context=context
        )
    try:
        connection.request("GET", "/v1/health")
        response = connection.getresponse()
        body = response.read(1024)
    except (OSError, http.client.HTTPException) as exc:
        return f"hub unreachable on port {port} ({type(exc).__name__})"
    finally:
        connection.close()
    if response.status != 200:
        return f"hub answered {response.status}"
    if json.loads(body or b"{}").get("status") != "ok":
        return "hub answered without status ok"
    return None


def main(argv: list[str]) -> int:
    config = Path(argv[1] if len(argv) > 1 else "/var/lib/accord/hub/hub.toml")
    try:
        reason = probe(config)
    except (OSError, KeyError, ValueError, ssl.SSLError) as exc:
        reason = f"{config}: {type(exc).__name__}"
    if reason is not None:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
