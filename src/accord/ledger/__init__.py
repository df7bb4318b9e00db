"""The audit ledger: signed entries in an append-only RFC 6962 Merkle log, with checkpoints."""

from __future__ import annotations

from accord.ledger._anchor import Anchor, anchor_of, load_anchor, write_anchor
from accord.ledger._bundle import export_bundle, open_source
from accord.ledger._compare import compare_logs
from accord.ledger._entry import Entry, SignedEntry, Signer, decimal, sign_entry, utc_now
from accord.ledger._evidence import (
    EVIDENCE_DIR,
    EquivocationEvidence,
    find_evidence,
    load_evidence,
    write_evidence,
)
from accord.ledger._log import HubLedger, SignedReceipt, genesis_payload
from accord.ledger._merkle import leaf_hash, verify_inclusion
from accord.ledger._open import is_postgres, open_store
from accord.ledger._pg import SCHEMA_NAME, pg_connect, pg_describe, pg_reason
from accord.ledger._registry import (
    GENESIS,
    KEY_REVOKE,
    KEY_ROTATE,
    MEMBER_ADMITTED,
    MEMBER_REMOVED,
    KeyRegistry,
)
from accord.ledger._replica import SiteReplica
from accord.ledger._seams import HubLog, LedgerWriter, LogSource
from accord.ledger._signing import verify_signature
from accord.ledger._store import (
    LedgerStore,
    Receipt,
    SQLiteLedgerStore,
    StoredCheckpoint,
    StoredCosignature,
    StoredEntry,
)
from accord.ledger._verify import Verifier, VerifyReport, verify_log
from accord.ledger._wire import (
    checkpoint_from_json,
    checkpoint_to_json,
    cosignature_from_json,
    cosignature_to_json,
    entry_from_json,
    entry_to_json,
    receipt_from_json,
    receipt_to_json,
)

__all__ = [
    "EVIDENCE_DIR",
    "GENESIS",
    "KEY_REVOKE",
    "KEY_ROTATE",
    "MEMBER_ADMITTED",
    "MEMBER_REMOVED",
    "SCHEMA_NAME",
    "Anchor",
    "Entry",
    "EquivocationEvidence",
    "HubLedger",
    "HubLog",
    "KeyRegistry",
    "LedgerStore",
    "LedgerWriter",
    "LogSource",
    "Receipt",
    "SQLiteLedgerStore",
    "SignedEntry",
    "SignedReceipt",
    "Signer",
    "SiteReplica",
    "StoredCheckpoint",
    "StoredCosignature",
    "StoredEntry",
    "Verifier",
    "VerifyReport",
    "anchor_of",
    "checkpoint_from_json",
    "checkpoint_to_json",
    "compare_logs",
    "cosignature_from_json",
    "cosignature_to_json",
    "decimal",
    "entry_from_json",
    "entry_to_json",
    "export_bundle",
    "find_evidence",
    "genesis_payload",
    "is_postgres",
    "leaf_hash",
    "load_anchor",
    "load_evidence",
    "open_source",
    "open_store",
    "pg_connect",
    "pg_describe",
    "pg_reason",
    "receipt_from_json",
    "receipt_to_json",
    "sign_entry",
    "utc_now",
    "verify_inclusion",
    "verify_log",
    "verify_signature",
    "write_anchor",
    "write_evidence",
]
