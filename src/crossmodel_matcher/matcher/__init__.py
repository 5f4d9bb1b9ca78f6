"""The matcher core: loaded tables in, pydantic reports out. Imports nothing from MCP."""

from __future__ import annotations

from pathlib import Path

from crossmodel_matcher.matcher.decompose import Decomposer
from crossmodel_matcher.matcher.search import CrossModelMatcher, MatcherInputError
from crossmodel_matcher.matcher.tables import ModelTables, PairTables
from crossmodel_matcher.schemas import (
    AlignmentSummary,
    DecompositionReport,
    UniqueFeature,
    UniqueFeaturesPage,
)

__all__ = ["Matcher", "MatcherInputError", "ModelTables", "PairTables"]


class Matcher(CrossModelMatcher):
    """find_matches, compare_features, find_decomposition and describe_feature over a pair."""

    def __init__(self, pair: PairTables, pair_dir: str | Path | None = None, progress: bool = False):
        super().__init__(pair)
        self._decomposer = Decomposer(self)
        from crossmodel_matcher.matcher.alignment import load_or_build

        self.alignment = load_or_build(self, None if pair_dir is None else Path(pair_dir), progress)

    @classmethod
    def from_dir(cls, pair_dir: str | Path, progress: bool = False, verify: bool = False) -> Matcher:
        """Load a pair directory (checked, memory-mapped; `verify` re-hashes every file) and wrap it."""
        from crossmodel_matcher.store.format import load_pair

        return cls(load_pair(pair_dir, verify=verify), pair_dir, progress)

    def alignment_summary(self) -> AlignmentSummary:
        """Model-wide alignment: counterparts per side, split sizes, mixtures, unique features."""
        return self.alignment.summary()

    def list_unique_features(self, model: str, offset: int = 0, limit: int = 50) -> UniqueFeaturesPage:
        """Live features of `model` with no counterpart above chance in the other model."""
        m = self.model(model)
        for name, value, lo in (("offset", offset, 0), ("limit", limit, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise MatcherInputError(f"{name}={value!r} must be an integer >= {lo}")
        if limit > 500:
            raise MatcherInputError(f"limit={limit} is out of range: use 1..500")
        ids = self.alignment.unique_features(m.name)
        page = ids[offset : offset + limit]
        feats = [
            UniqueFeature(
                feature=f,
                label=m.label(f),
                fire_count=int(m.fire_count[f]),
                firing_rate=round(float(m.fire_count[f]) / max(1, m.n_examples), 6),
                top_tokens=[t.token for t in self.distinctive_tokens(m, f, 8)],
            )
            for f in page
        ]
        end = offset + len(page)
        return UniqueFeaturesPage(
            model=m.name,
            other_model=self.pair.other(m.name).name,
            definition="live, and no feature of the other model is a counterpart: containment "
            ">= 0.6 one way, positive correlation, above chance (best-of-N p < 0.01)",
            total=len(ids),
            offset=offset,
            limit=limit,
            next_offset=end if end < len(ids) else None,
            feature_ids=page,
            features=feats,
        )

    def find_decomposition(self, model: str, feature: int, max_parts: int = 12) -> DecompositionReport:
        """Which features of the other model together make up (model, feature)."""
        return self._decomposer.find_decomposition(model, feature, max_parts)
