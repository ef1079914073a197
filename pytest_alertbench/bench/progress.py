"""A one-line progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class Progress:
    """Counts finished steps of the run and redraws one line for each.

    Steps are whole phases (a mode's store section...), never single calls,
    so drawing never lands inside a timed loop.

    Args:
        total: Steps expected; the bar stops at full if more come.
        stream: Where to draw (default ``sys.stderr``).
        enabled: Draw at all; by default only when ``stream`` is a terminal.
    """

    def __init__(
        self, total: int, stream: TextIO | None = None, enabled: bool | None = None
    ) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._drawn = 0

    def step(self, label: str) -> None:
        """Mark one step done and show ``label`` as the last thing finished."""
        self.done += 1
        if self.enabled:
            self._draw(label)

    def render(self, label: str) -> str:
        """Return the bar line for the current count (without the ``\\r``)."""
        shown = min(self.done, self.total)
        filled = WIDTH * shown // self.total
        bar = "#" * filled + "-" * (WIDTH - filled)
        percent = 100 * shown // self.total
        return f"[{bar}] {percent:3d}% {label}"[:79]

    def close(self) -> None:
        """Erase the bar so the report starts on a clean line."""
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def _draw(self, label: str) -> None:
        line = self.render(label)
        pad = " " * max(self._drawn - len(line), 0)
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self._drawn = len(line)
