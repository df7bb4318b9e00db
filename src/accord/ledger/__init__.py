"""The audit ledger: signed entries in an append-only RFC 6962 Merkle log, with checkpoints."""
