"""Identities and key files (Ed25519 signing keys per organisation), the consortium PKI
and mutual-TLS contexts, and the member cards an organisation hands over to join.

Imports only ``cryptography``, the standard library and :mod:`accord.core`; the ledger
uses :class:`Signer` structurally and :class:`PublicIdentity` to verify. Names import on
first use (:mod:`accord._lazy_face`): ``cryptography.x509`` alone takes ~0.1 s, and most
CLI commands name a key or card function without running it at start-up.
"""

from typing import TYPE_CHECKING

from accord._lazy_face import lazy_face

if TYPE_CHECKING:
    from accord.crypto._ca import DEFAULT_CERT_DAYS, enroll, init_ca, renew, sign_request
    from accord.crypto._card import (
        CARD_VERSION,
        MemberCard,
        card_path,
        load_card,
        parse_card,
        write_card,
    )
    from accord.crypto._certfile import load_ca_certificate, load_certificate
    from accord.crypto._identity import (
        ORG_PATTERN,
        Identity,
        PublicIdentity,
        Signer,
        key_id_of,
        new_identity,
    )
    from accord.crypto._keyfile import (
        KEY_FORMAT,
        PASSPHRASE_ENV,
        key_paths,
        load_identity,
        load_public,
        save_identity,
    )
    from accord.crypto._peer import PeerCertificate, check_peer, describe_certificate
    from accord.crypto._revocation import CERT_REVOKE, revocation_payload, revoked_serials
    from accord.crypto._tls import (
        TLSFiles,
        authenticate_peer,
        check_insecure_bind,
        client_context,
        server_context,
    )

__all__ = [
    "CARD_VERSION",
    "CERT_REVOKE",
    "DEFAULT_CERT_DAYS",
    "KEY_FORMAT",
    "ORG_PATTERN",
    "PASSPHRASE_ENV",
    "Identity",
    "MemberCard",
    "PeerCertificate",
    "PublicIdentity",
    "Signer",
    "TLSFiles",
    "authenticate_peer",
    "card_path",
    "check_insecure_bind",
    "check_peer",
    "client_context",
    "describe_certificate",
    "enroll",
    "init_ca",
    "key_id_of",
    "key_paths",
    "load_ca_certificate",
    "load_card",
    "load_certificate",
    "load_identity",
    "load_public",
    "new_identity",
    "parse_card",
    "renew",
    "revocation_payload",
    "revoked_serials",
    "save_identity",
    "server_context",
    "sign_request",
    "write_card",
]

# Each name of the face and its private module (the TYPE_CHECKING imports above).
_LAZY = {
    "_ca": "DEFAULT_CERT_DAYS enroll init_ca renew sign_request",
    "_card": "CARD_VERSION MemberCard card_path load_card parse_card write_card",
    "_certfile": "load_ca_certificate load_certificate",
    "_identity": "ORG_PATTERN Identity PublicIdentity Signer key_id_of new_identity",
    "_keyfile": "KEY_FORMAT PASSPHRASE_ENV key_paths load_identity load_public save_identity",
    "_peer": "PeerCertificate check_peer describe_certificate",
    "_revocation": "CERT_REVOKE revocation_payload revoked_serials",
    "_tls": "TLSFiles authenticate_peer check_insecure_bind client_context server_context",
}
__getattr__ = lazy_face(
    __name__, {name: home for home, names in _LAZY.items() for name in names.split()}
)
