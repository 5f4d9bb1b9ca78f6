"""The matcher core: loaded tables in, pydantic reports out. Imports nothing from MCP.

`Matcher` (facade.py) composes the pure scores (candidates.py, scores.py), the null model
(null.py), the decomposer (decompose.py) and the alignment (alignment.py); readings.py writes
the prose. Open a pair directory with `crossmodel_matcher.pair_source.open_pair`.
"""

from __future__ import annotations

from crossmodel_matcher.errors import MatcherInputError
from crossmodel_matcher.matcher.facade import Matcher
from crossmodel_matcher.tables import ModelTables, PairTables

__all__ = ["Matcher", "MatcherInputError", "ModelTables", "PairTables"]
