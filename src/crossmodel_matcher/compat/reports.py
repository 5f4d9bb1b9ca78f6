"""The original API's result types: the original fields first, the core's additions after."""

from __future__ import annotations

from dataclasses import dataclass, field

from crossmodel_matcher.schemas import PairEvidence, ScoreBand

NOTES = {
    ScoreBand.strong: "Strong match (high correlation + overlap)",
    ScoreBand.good: "Good match",
    ScoreBand.moderate: "Moderate match",
    ScoreBand.weak: "Weak match",
}
"""The original's note for each band of the combined score (schemas.score_band)."""


# ---- reports -------------------------------------------------------------------------------
@dataclass
class FeatureMatch:
    """A candidate counterpart; the first nine fields are the original's."""

    source_feature: int
    source_model: str
    target_feature: int
    target_model: str
    activation_correlation: float = 0.0
    """Full-stream Pearson over aligned examples; 0.0 where the pair has no activations."""
    top_token_overlap: float = 0.0
    """Jaccard of the two original top-50 token sets."""
    combined_score: float = 0.0
    """The original: 0.4 * overlap + 0.6 * correlation if correlation > 0, else overlap."""
    shared_top_tokens: list[str] = field(default_factory=list)
    """Tokens in both top-50 sets, most distinctive first."""
    notes: str = ""
    """The original's band of `combined_score` (> 0.5 strong, > 0.3 good, > 0.1 moderate)."""
    # Additions from the core.
    rank: int = 0
    target_label: str | None = None
    match_score: float = 0.0
    weighted_overlap: float = 0.0
    overlap_band: str = "weak"
    relation: str = "none"
    reading: str = ""
    evidence: PairEvidence | None = None


@dataclass
class MatchingReport:
    """Matches of one feature; the first six fields are the original's."""

    source_feature: int
    source_model: str
    target_model: str
    matches: list[FeatureMatch] = field(default_factory=list)
    n_candidates_tested: int = 0
    """Candidates actually scored."""
    best_correlation: float = 0.0
    """Activation correlation of the first match (0.0 when there is none), as the original."""
    # Additions.
    n_target_features: int = 0
    candidate_selection: str = ""
    """How the scored candidates were chosen: all of them, or the pre-filter used."""
    ranked_by: str = "match_score"
    signals_used: list[str] = field(default_factory=list)
    has_counterpart: bool = False
    """Whether a match clears the core's counterpart threshold (see `counterparts`)."""
    counterparts: list[int] = field(default_factory=list)
    """Matches clearing the core's counterpart threshold, in rank order."""
    source_dead: bool = False
    reading: str = ""
    elapsed_ms: float = 0.0

    @property
    def match_ids(self) -> list[int]:
        return [m.target_feature for m in self.matches]


