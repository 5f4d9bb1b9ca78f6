"""The matcher core: loaded tables in, pydantic reports out. Imports nothing from MCP."""

from __future__ import annotations

from pathlib import Path

from crossmodel_matcher.matcher.decompose import Decomposer
from crossmodel_matcher.matcher.search import CrossModelMatcher, MatcherInputError
from crossmodel_matcher.matcher.tables import ModelTables, PairTables
from crossmodel_matcher.schemas import DecompositionReport

__all__ = ["Matcher", "MatcherInputError", "ModelTables", "PairTables"]


class Matcher(CrossModelMatcher):
    """find_matches, compare_features, find_decomposition and describe_feature over a pair."""

    def __init__(self, pair: PairTables):
        super().__init__(pair)
        self._decomposer = Decomposer(self)

    @classmethod
    def from_dir(cls, pair_dir: str | Path) -> Matcher:
        """Load a pair directory (validated, memory-mapped) and wrap it."""
        from crossmodel_matcher.store.format import load_pair

        return cls(load_pair(pair_dir))

    def find_decomposition(self, model: str, feature: int, max_parts: int = 12) -> DecompositionReport:
        """Which features of the other model together make up (model, feature)."""
        return self._decomposer.find_decomposition(model, feature, max_parts)
