"""The one CLI error printer: a single line on stderr, exit status 2, never a traceback."""

from __future__ import annotations

import sys

EXIT_USAGE = 2


def fail(message: object, command: str | None = None) -> int:
    """Print `[crossmodel-matcher COMMAND: ]error: MESSAGE` on stderr; return the exit status."""
    prefix = f"crossmodel-matcher {command}: " if command else ""
    print(f"{prefix}error: {message}", file=sys.stderr)
    return EXIT_USAGE
