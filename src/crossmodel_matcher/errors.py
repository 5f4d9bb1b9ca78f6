"""One error family: every expected failure is a `CrossmodelError` whose message says the fix.

The tool edge (server) and the CLI catch `CrossmodelError` as expected; anything else is an
internal error. Subclasses say where the failure came from.
"""

from __future__ import annotations


class CrossmodelError(ValueError):
    """An expected failure; the message names the argument, field or file, and what is valid."""


class InputError(CrossmodelError):
    """Bad input to a build; the message names the source, the field and the fix."""


class PairFormatError(CrossmodelError):
    """A pair directory that cannot be loaded; the message names the file and the fix."""


class MatcherInputError(CrossmodelError):
    """A request the matcher refuses; the message says which argument and what is valid."""


class PairLoadError(CrossmodelError):
    """The pair could not be loaded in the background; the message names the pair and the cause."""
