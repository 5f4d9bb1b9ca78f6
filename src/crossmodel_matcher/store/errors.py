"""The store's error for a pair directory that cannot be opened as it is."""

from __future__ import annotations


class PairFormatError(ValueError):
    """A pair directory that cannot be loaded; the message names the file and the fix."""
