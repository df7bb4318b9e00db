"""The one exception tree of accord.

Every error a user can cause derives from :class:`AccordError` and carries the
exit code the CLI returns for it::

    AccordError (1)
    ├── ConfigError (2, ValueError)      study or site config is malformed
    ├── DataError (3, ValueError)        a cohort file fails validation
    │   └── StainEstimationError         wsi: a tile's stains cannot be estimated
    ├── PolicyError (4)                  a site refuses a task
    ├── AggregationError (5)             the hub cannot combine replies
    ├── PrivacyError (6)                 a privacy guarantee would be broken
    ├── ConvergenceError (7)             an optimiser failed to converge
    ├── TransportError (8)               a message was lost or malformed
    │   ├── BodyTooLargeError            net: a request body over the server's limit
    │   ├── UnknownTaskError             net: no such task in the queue
    │   ├── UnknownBlobError             net: no such payload blob
    │   ├── WrongSiteError               net: a task fetched or answered by another site
    │   ├── ReplyConflictError           net: a second, different reply to one task
    │   ├── TaskExpiredError             net: a reply after the hub stopped waiting
    │   ├── UploadOffsetError            net: a chunk that does not continue its upload
    │   ├── UploadBusyError              net: an upload already being written
    │   ├── StagingQuotaError            net: an upload over a site's or the hub's quota
    │   └── RateLimitedError             net: a caller over its request rate (429)
    ├── LedgerError (9)                  the audit ledger is unreadable or inconsistent
    │   └── EquivocationError (10)       a log showed two different histories
    ├── KeyFileError (11, ValueError)    a key file is missing, malformed or too open
    ├── SlideReadError (12, ValueError)  a slide is missing, corrupt, unsupported or lacks mpp
    │   └── CorruptSlideError            wsi: a truncated or structurally broken TIFF
    ├── AuthError (13)                   a peer's certificate is foreign, expired or revoked
    ├── MissingFileError (14, FileNotFoundError)  a file or folder the user named does not exist
    └── QueueStoreError                  net: the task queue's database failed

The classes marked with a package live there (beside the code that raises them) and
take their parent's exit code; the rest are defined here. ``tests/core/test_errors.py``
checks that every subclass of :class:`AccordError` anywhere in accord is in this tree.

Messages name the file, the column or field, the kind of the bad value and what was
expected. They never contain a patient-level value or identifier: refer to row
numbers (1-based, header excluded) and column names only.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AccordError",
    "AggregationError",
    "AuthError",
    "ConfigError",
    "ConvergenceError",
    "DataError",
    "EquivocationError",
    "KeyFileError",
    "LedgerError",
    "MissingFileError",
    "PolicyError",
    "PrivacyError",
    "SlideReadError",
    "TransportError",
    "format_rows",
]


class AccordError(Exception):
    """Base of every accord error; ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1


class ConfigError(AccordError, ValueError):
    """A study file, site config or CLI option is malformed."""

    exit_code = 2


class DataError(AccordError, ValueError):
    """A cohort file (CSV, Parquet) fails validation."""

    exit_code = 3


class PolicyError(AccordError):
    """A site's local policy refuses a task."""

    exit_code = 4


class AggregationError(AccordError):
    """The hub cannot combine the replies it received."""

    exit_code = 5


class PrivacyError(AccordError):
    """An operation would break a privacy guarantee (e.g. a small cell would leave a site)."""

    exit_code = 6


class ConvergenceError(AccordError):
    """An optimiser (e.g. federated Newton-Raphson) did not converge."""

    exit_code = 7


class TransportError(AccordError):
    """A message was lost, timed out or is malformed."""

    exit_code = 8


class KeyFileError(AccordError, ValueError):
    """A key file or public identity is missing, malformed, of the wrong kind or too open."""

    exit_code = 11


class LedgerError(AccordError):
    """The audit ledger is unreadable, malformed or inconsistent (bad file, seq gap, bad proof)."""

    exit_code = 9


class EquivocationError(LedgerError):
    """A log presented two histories that are not consistent (a forked or rewritten ledger)."""

    exit_code = 10


def format_rows(rows: Sequence[int], limit: int = 5) -> str:
    """Render 1-based row numbers for an error message: ``"rows 3, 17, 40 and 2 more"``."""
    shown = ", ".join(str(r) for r in rows[:limit])
    extra = len(rows) - limit
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}" + (f" and {extra} more" if extra > 0 else "")


class SlideReadError(AccordError, ValueError):
    """A whole-slide image cannot be read: missing, corrupt, unsupported or without mpp."""

    exit_code = 12


class AuthError(AccordError):
    """A peer is not authenticated: its certificate is foreign, expired, revoked or for another org.

    Messages name organisations and certificate serials only.
    """

    exit_code = 13


class MissingFileError(AccordError, FileNotFoundError):
    """A file or folder the user named (a ledger, a study, a data folder or cohort file, a
    service config) does not exist; the message gives its full path.

    Key files and slides keep their own classes (KeyFileError, SlideReadError), which
    also cover a missing one.
    """

    exit_code = 14
