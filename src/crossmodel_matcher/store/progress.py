"""A tiny progress bar for long build steps, drawn on stderr.

On a terminal it redraws one line at most ten times a second; elsewhere (logs, CI) it prints
one line when a step ends, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """`bar = ProgressBar("ultra: activations", total, "rows"); bar.update(n); bar.close()`."""

    def __init__(
        self, label: str, total: int, unit: str = "", enabled: bool = True, stream: TextIO | None = None
    ):
        self.label, self.total, self.unit = label, max(0, int(total)), unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._closed = False

    def update(self, n: int) -> None:
        self.done += int(n)
        if self.tty and time.perf_counter() - self._last_draw >= 0.1:
            self._draw(end="\r")

    def close(self) -> None:
        if self.enabled and not self._closed:
            self._draw(end="\n")
        self._closed = True

    def _draw(self, end: str) -> None:
        self._last_draw = time.perf_counter()
        frac = self.done / self.total if self.total else 1.0
        width = 24
        fill = int(round(width * min(1.0, frac)))
        unit = f" {self.unit}" if self.unit else ""
        line = (
            f"{self.label} [{'#' * fill}{'.' * (width - fill)}] {100 * frac:5.1f}% "
            f"{self.done:,}/{self.total:,}{unit} {self._last_draw - self.t0:6.1f}s"
        )
        self.stream.write(line + end)
        self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
