"""Every request and report model, and the bands with their thresholds: the one contract.

The matcher core builds these models; the MCP server returns them unchanged, so the JSON
schema an agent sees is generated from this file alone.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from crossmodel_matcher.rules import (  # noqa: F401  (re-exported: the bands' thresholds)
    CALIBRATED_MODERATE,
    CALIBRATED_STRONG,
    COMBINED_CORRELATION_WEIGHT,
    COMBINED_JACCARD_WEIGHT,
    COUNTERPART_MIN_WEIGHTED_OVERLAP,
    MAX_TOP_ROWS,
    OVERLAP_MODERATE,
    OVERLAP_STRONG,
    RELATED_MIN_CORRELATION,
    RELATION_RULE_DOC,
    RELATIONS_DOC,
    SCORE_GOOD,
    SCORE_MODERATE,
    SCORE_STRONG,
    TOP_FRACTION_DIVISOR,
    TOP_K_TOKENS,
)

COMBINED_SCORE_FORMULA = (
    "combined_score = 0.4 * jaccard + 0.6 * activation_correlation if activation_correlation > 0 "
    "else jaccard (the original formula; correlation is full-stream Pearson over aligned examples)"
)
MATCH_SCORE_FORMULA = (
    "match_score = 0.7 * max(activation_correlation, 0) + 0.3 * weighted_overlap with activations; "
    "weighted_overlap alone without them (used for ranking)"
)

class OverlapBand(StrEnum):
    """Token-overlap band: strong > 0.3, moderate 0.1-0.3, weak < 0.1 (the original skill)."""

    strong = "strong"
    moderate = "moderate"
    weak = "weak"


class ScoreBand(StrEnum):
    """Combined-score band of the original notes: > 0.5 strong, > 0.3 good, > 0.1 moderate."""

    strong = "strong"
    good = "good"
    moderate = "moderate"
    weak = "weak"


def overlap_band(jaccard: float) -> OverlapBand:
    """Band of a token-set Jaccard."""
    if jaccard > OVERLAP_STRONG:
        return OverlapBand.strong
    if jaccard >= OVERLAP_MODERATE:
        return OverlapBand.moderate
    return OverlapBand.weak


def score_band(score: float) -> ScoreBand:
    """Band of a combined score, as the original notes read it."""
    if score > SCORE_STRONG:
        return ScoreBand.strong
    if score > SCORE_GOOD:
        return ScoreBand.good
    if score > SCORE_MODERATE:
        return ScoreBand.moderate
    return ScoreBand.weak


BANDS_DOC = {
    "token_overlap": "Jaccard of top-50 token sets: strong > 0.3, moderate 0.1-0.3, weak < 0.1",
    "combined_score": "strong > 0.5, good > 0.3, moderate > 0.1, weak otherwise",
    "calibrated": "chance unless above the best-of-N null (p < 0.01); then match_score "
    ">= 0.5 with a containment relation strong, >= 0.25 moderate, else weak",
}

Relation = Literal["same", "parent", "child", "part-of-polysemantic", "related", "none"]
RELATIONS: tuple[str, ...] = get_args(Relation)


class CalibratedBand(StrEnum):
    """Band that first requires the match to beat the best-of-N null."""

    strong = "strong"
    moderate = "moderate"
    weak = "weak"
    chance = "chance"


def calibrated_band(match_score: float, above_chance: bool, contained: bool = True) -> CalibratedBand:
    """Calibrated band; `contained`: the pair is in a containment relation (strong needs it)."""
    if not above_chance:
        return CalibratedBand.chance
    if match_score >= CALIBRATED_STRONG and contained:
        return CalibratedBand.strong
    if match_score >= CALIBRATED_MODERATE:
        return CalibratedBand.moderate
    return CalibratedBand.weak

Direction = Literal["narrow_to_wide", "wide_to_narrow", "same_width"]
Verdict = Literal["one_to_one", "split", "polysemantic", "no_counterpart"]
Signal = Literal["tokens", "activations", "decoder"]


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenWeight(_Report):
    """A token with its weight in a feature (or the smaller of two features' weights)."""

    token: str
    weight: float = Field(description="Lift-based weight: share of top examples x log(lift).")
    count: int = Field(0, description="Count among the feature's top-10% examples (original).")


class FeatureSummary(_Report):
    """What one feature is: its top tokens, firing statistics and label."""

    model: str
    feature: int
    label: str | None = None
    dead: bool
    firing_rate: float = Field(description="Share of this model's examples where it fires.")
    fire_count: int
    max_activation: float
    mean_activation: float = Field(description="Mean activation where it fires.")
    top_tokens: list[TokenWeight] = Field(
        description="Original top-50 tokens (count in the top 10% of examples), by count."
    )
    distinctive_tokens: list[TokenWeight] = Field(
        description="Tokens by lift-based weight: over-represented in this feature's examples."
    )


class PairEvidence(_Report):
    """Every signal between one source feature and one target feature."""

    jaccard: float = Field(description="Jaccard of the two original top-50 token sets, [0, 1].")
    weighted_overlap: float = Field(
        description="Weighted Jaccard of lift-based token weights, [0, 1]: common tokens count little."
    )
    activation_correlation: float | None = Field(
        None, description="Full-stream Pearson over aligned examples, zeros included, [-1, 1]."
    )
    target_given_source: float | None = Field(
        None, description="P(target fires | source fires) over aligned examples."
    )
    source_given_target: float | None = Field(
        None, description="P(source fires | target fires) over aligned examples."
    )
    target_mass_given_source: float | None = Field(
        None, description="Share of the source's activation mass on examples where the target "
        "fires (decides containment; measured for candidates that may be contained)."
    )
    source_mass_given_target: float | None = Field(
        None, description="Share of the target's activation mass on examples where the source fires."
    )
    cofire_count: int | None = Field(None, description="Aligned examples where both fire.")
    decoder_cosine: float | None = Field(
        None, description="Cosine of decoder directions; only when both SAEs read one space."
    )
    combined_score: float = Field(description=COMBINED_SCORE_FORMULA)
    match_score: float = Field(description=MATCH_SCORE_FORMULA)
    overlap_band: OverlapBand
    score_band: ScoreBand
    relation: Relation = Field(description="Typed relation of target to source: " + "; ".join(
        f"{k}: {v}" for k, v in RELATIONS_DOC.items()) + ". " + RELATION_RULE_DOC)
    relation_reason: str | None = Field(
        None, description="The numbers that decided the relation (correlation, mass containment)."
    )
    null_percentile: float | None = Field(
        None, description="Percentile of match_score among random non-corresponding pairs (0-100)."
    )
    p_value: float | None = Field(
        None, description="Chance that the best of all N random candidates scores this well (best-of-N)."
    )
    above_chance: bool = Field(True, description="p_value < 0.01: beats every random candidate.")
    calibrated_band: CalibratedBand = Field(
        CalibratedBand.chance, description="strong / moderate / weak / chance; see bands.calibrated."
    )


class EvidenceRecord(_Report):
    """An evidence item ready for a research-state file (summary, strength, key metrics)."""

    summary: str = Field(min_length=10)
    strength: Literal["strong", "moderate", "weak"]
    key_metrics: dict[str, int | float] = Field(description="Numbers behind it; counts are integers.")


class Match(_Report):
    """One ranked counterpart."""

    rank: int
    target_feature: int
    target_label: str | None = None
    evidence: PairEvidence
    shared_tokens: list[TokenWeight] = Field(
        description="Tokens in both top-50 sets, most distinctive first."
    )
    reading: str = Field(description="One line an agent can quote.")


class MatchReport(_Report):
    """Ranked counterparts of one feature among ALL features of the other model."""

    source_model: str
    source_feature: int
    source_label: str | None = None
    target_model: str
    direction: Direction
    n_candidates_tested: int
    signals_used: list[Signal]
    ranked_by: str
    score_formula: str = COMBINED_SCORE_FORMULA
    has_counterpart: bool = Field(
        description="False when no candidate clears the counterpart threshold (see reading)."
    )
    source_dead: bool
    matches: list[Match]
    match_ids: list[int] = Field(description="Target feature ids of the matches, ranked.")
    counterpart_ids: list[int] = Field(
        default_factory=list,
        description="Matches above chance with a relation (same/parent/child/part-of-polysemantic): "
        "hand these to cluster analysis (ids of the target model).",
    )
    evidence_record: EvidenceRecord | None = Field(
        None, description="The best match as a research-state evidence item."
    )
    reading: str
    bands: dict[str, str] = Field(default_factory=lambda: dict(BANDS_DOC))


class TokenComparison(_Report):
    shared_tokens: list[TokenWeight]
    source_only_tokens: list[TokenWeight]
    target_only_tokens: list[TokenWeight]


class ComparisonReport(_Report):
    """Two features side by side: where they agree and where they differ."""

    source: FeatureSummary
    target: FeatureSummary
    direction: Direction
    evidence: PairEvidence
    tokens: TokenComparison
    source_only_fires: int | None = Field(None, description="Aligned examples: source fires alone.")
    target_only_fires: int | None = Field(None, description="Aligned examples: target fires alone.")
    n_aligned_examples: int
    score_formula: str = COMBINED_SCORE_FORMULA
    evidence_record: EvidenceRecord
    reading: str
    bands: dict[str, str] = Field(default_factory=lambda: dict(BANDS_DOC))


class DecompositionPart(_Report):
    """One wide feature in a narrow feature's decomposition (or a parent of a wide feature)."""

    feature: int
    label: str | None = None
    weight: float = Field(description="Non-negative regression coefficient (0 if tokens only).")
    explained_variance_after: float | None = Field(
        None, description="R^2 of the narrow feature's activations once this part is added."
    )
    group: int = Field(description="Concept group: parts in one group refine one concept.")
    evidence: PairEvidence
    distinctive_tokens: list[TokenWeight] = Field(
        description="This part's tokens, most distinctive first."
    )


class Refinement(_Report):
    """A wide feature that refines a narrow one: it lies inside it (relation `child`)."""

    feature: int
    label: str | None = None
    mass_share: float = Field(description="Share of the narrow feature's activation mass where this fires.")
    inside: float = Field(description="Share of this feature's activation mass where the narrow one fires.")
    correlation: float = Field(description="Full-stream correlation with the narrow feature.")
    distinctive_tokens: list[TokenWeight] = Field(description="Its tokens, most distinctive first.")


class DecompositionReport(_Report):
    """Which features of the other model together make up this feature."""

    model: str
    feature: int
    label: str | None = None
    other_model: str
    direction: Direction
    method: str
    signals_used: list[Signal]
    verdict: Verdict
    verdict_reason: str
    explained_variance: float | None = Field(
        None, description="R^2 of all parts together (activations only)."
    )
    explained_variance_steps: list[float] = Field(
        default_factory=list, description="R^2 after each added part."
    )
    token_coverage: float = Field(
        description="Share of the feature's distinctive token weight covered by the parts."
    )
    n_groups: int
    n_candidates_tested: int
    parts: list[DecompositionPart]
    part_ids: list[int] = Field(description="Ids in the other model, for cluster analysis.")
    refinements: list[Refinement] = Field(default_factory=list, description=(
        "Narrow feature (one_to_one or split): each wide feature inside it (child), largest first."))
    refinement_ids: list[int] = Field(default_factory=list, description="Ids of `refinements`.")
    sibling_ids: list[int] = Field(default_factory=list, description="Wide feature: its parent's other refinements.")
    parents: list[DecompositionPart] = Field(
        default_factory=list, description="A wide feature's parents in the narrow model (parts stay empty)."
    )
    parent_ids: list[int] = Field(default_factory=list, description="Ids of the parents.")
    evidence_record: EvidenceRecord
    reading: str


class ModelInfo(_Report):
    name: str
    n_features: int
    n_examples: int
    n_dead: int
    signals: list[Signal]
    activation_space: str | None = None
    has_labels: bool


class PairInfo(_Report):
    format_version: int
    models: list[ModelInfo]
    vocab_size: int
    n_aligned_examples: int
    decoder_comparable: bool
    description: str



class SideAlignment(_Report):
    """One model's side of the model-wide alignment."""

    model: str
    n_features: int
    n_live: int
    n_dead: int
    n_with_counterpart: int = Field(description="Live features with a counterpart above chance.")
    n_unique: int = Field(description="Live features with no counterpart above chance.")
    share_with_same: float = Field(description="Share of live features with a `same` counterpart.")
    share_with_counterpart: float


class AlignmentSummary(_Report):
    """The whole pair at a glance; computed once per pair and cached."""

    models: list[SideAlignment]
    narrow_model: str | None
    verdict_counts: dict[str, int] = Field(description="Decomposition verdicts of live narrow features.")
    split_size_histogram: dict[str, int] = Field(description="Number of parts -> narrow features split so.")
    n_polysemantic: int


class UniqueFeature(_Report):
    feature: int
    label: str | None = None
    fire_count: int
    firing_rate: float
    distinctive_tokens: list[TokenWeight] = Field(description="Most distinctive tokens (lift-weighted).")
    match_score: float | None = Field(None, description="To near_feature, when one is given.")
    relation: Relation | None = Field(None, description="To near_feature, when one is given.")


class UniqueFeaturesPage(_Report):
    """Live features of one model with no counterpart above chance in the other (a page)."""

    model: str
    other_model: str
    definition: str
    total: int
    offset: int
    limit: int
    next_offset: int | None
    feature_ids: list[int] = Field(description="Ids on this page, for cluster analysis.")
    features: list[UniqueFeature]
