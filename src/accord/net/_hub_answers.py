"""What a site takes from the hub's error answers: bounded, one line, printable; and
which answers it sends again (:func:`retryable`, one rule for both site clients).

The hub is not trusted, and the text of its ``{"error": ...}`` answers ends up in the
site's log lines and in the errors its operators read. A lying hub could otherwise forge
log lines (a newline, then a fake ``INFO`` record), hide text behind terminal escapes, or
fill the log with megabytes per answer. :func:`refusal` keeps at most
:data:`MAX_ERROR_CHARS` characters of the hub's text, with every control character
(C0, DEL, C1: newlines, carriage returns, ``ESC``) shown as ``?``.
"""

from __future__ import annotations

import re

import httpx

from accord.core import TransportError, load_json

__all__ = ["MAX_ERROR_CHARS", "hub_error_text", "refusal", "retryable"]

MAX_ERROR_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


_RETRY_STATUS = frozenset({408, 425, 429})  # timeout, too early, too many requests


def retryable(status: int) -> bool:
    """Whether an answer of ``status`` is worth sending again (5xx, 408, 425, 429)."""
    return status >= 500 or status in _RETRY_STATUS


def hub_error_text(response: httpx.Response) -> str:
    """The ``error`` text of the hub's JSON answer, made safe to log ("" when none)."""
    try:
        data = load_json(response.content)
    except ValueError:
        return ""
    text = data.get("error") if isinstance(data, dict) else None
    if not isinstance(text, str):
        return ""
    cut = text[:MAX_ERROR_CHARS]
    return _CONTROL.sub("?", cut) + ("…" if len(text) > MAX_ERROR_CHARS else "")


def refusal(response: httpx.Response, what: str) -> TransportError:
    """The error for an answer that refused ``what`` (its status and the hub's text)."""
    text = hub_error_text(response)
    return TransportError(f"the hub refused {what} with status {response.status_code}: {text}")
