"""The one progress reporter: tqdm bars and timestamped step lines, both on stderr.

stdout belongs to the MCP protocol on stdio and to JSON output, so nothing here writes there.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tqdm import tqdm


def progress_bar(label: str, total: int, unit: str = "it", enabled: bool = True) -> tqdm:
    """A bar on stderr (`with progress_bar(...) as bar: bar.update(n)`); silent when disabled."""
    return tqdm(
        total=max(0, int(total)), desc=label, unit=unit, disable=not enabled, file=sys.stderr,
        mininterval=0.1, dynamic_ncols=True, unit_scale=unit != "it",
    )


def step_reporter(prefix: str, enabled: bool = True) -> Callable[[str], None]:
    """`say(msg)` printing `[prefix  12.3s] msg` on stderr since creation; a no-op when disabled."""
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if enabled:
            tqdm.write(f"[{prefix} {time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr)

    return say
