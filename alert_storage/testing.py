"""Helpers for testing code that uses ``alert_storage`` (no test framework needed)."""

from __future__ import annotations

import threading


class ManualClock:
    """A clock that only moves when told to; pass it as a backend's ``clock``.

    Args:
        start: The initial time in epoch seconds.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("a ManualClock never goes backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Set the clock to ``when`` (not earlier than now)."""
        if when < self._now:
            raise ValueError("a ManualClock never goes backwards")
        self._now = float(when)
