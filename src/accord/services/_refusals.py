"""Refused connections on the ledger: once per certificate and reason per window, counted.

Every refused request used to append a signed, fsynced ``connection.refused`` entry, so a
revoked or foreign certificate knocking 300 times wrote 300 entries. :class:`RefusalLog`
records the *first* refusal of a (certificate, reason) pair, then only counts the same
refusal until ``window_s`` has passed since that entry. The next one after the window is
recorded again and says how many were counted in between::

    {"reason": "...", "window_s": 600, "unrecorded": 299}

``unrecorded`` is the number of identical refusals (same certificate, same reason) the hub
counted but did not record since the previous entry for that pair (0 on the first).
:meth:`RefusalLog.flush` records the counts still pending (the hub calls it when it
closes), so no count is lost when the knocking stops. Entries name organisations,
serials and reasons only (the reasons of :func:`accord.crypto.check_peer`); a certificate
is told apart by its SHA-256, which is kept in memory and never recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RefusalLog"]

Record = Callable[[dict[str, object]], None]  # appends one connection.refused payload
_MAX_PAIRS = 10_000  # pairs remembered; those with nothing pending are dropped beyond this


@dataclass
class _Window:
    opened: float  # when the pair's last entry was recorded
    unrecorded: int = 0


class RefusalLog:
    """Records refusals through ``record``, once per (peer, reason) per ``window_s``
    (whole seconds: a ledger payload holds no floats).

    ``clock`` gives seconds (monotonic); tests pass a fake one.
    """

    def __init__(
        self, record: Record, window_s: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.record = record
        self.window_s = window_s
        self.clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()

    def refuse(self, peer: str, reason: str) -> bool:
        """Note a refusal of ``peer`` (a certificate's fingerprint) for ``reason``; True
        when it was recorded, False when only counted."""
        now = self.clock()
        key = (peer, reason)
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.opened < self.window_s:
                window.unrecorded += 1
                return False
            unrecorded = window.unrecorded if window is not None else 0
            if window is None and len(self._windows) >= _MAX_PAIRS:
                self._forget_quiet(now)
            self._windows[key] = _Window(now)
        self.record(self._payload(reason, unrecorded))
        return True

    def flush(self) -> None:
        """Record every count still pending (each pair's window starts again)."""
        now = self.clock()
        with self._lock:
            pending = [(k[1], w.unrecorded) for k, w in self._windows.items() if w.unrecorded]
            for window in self._windows.values():
                window.opened, window.unrecorded = now, 0
        for reason, unrecorded in pending:
            self.record(self._payload(reason, unrecorded))

    def _payload(self, reason: str, unrecorded: int) -> dict[str, object]:
        return {"reason": reason, "window_s": self.window_s, "unrecorded": unrecorded}

    def _forget_quiet(self, now: float) -> None:
        """Drop pairs whose window passed with nothing counted (lock held)."""
        for key, window in list(self._windows.items()):
            if not window.unrecorded and now - window.opened >= self.window_s:
                del self._windows[key]
