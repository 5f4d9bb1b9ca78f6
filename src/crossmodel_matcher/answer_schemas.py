"""Answers sized for agents: the concise projection of each report, and what every answer may
carry besides its report (whether, and how, it was cut to the size budget).

A concise model keeps the fields an agent decides and chains with; each has the name, and the
meaning, of the report field it is filled from (answers.py fills them by name), so the two
formats share one vocabulary. Token lists are names only in concise answers. The detailed
answer of a tool is its report as is, plus `response_format` and the truncation fields.
"""

from __future__ import annotations

from typing import Literal

from crossmodel_matcher.schemas import (
    AlignmentSummary,
    CalibratedBand,
    ComparisonReport,
    DecompositionReport,
    FeatureSummary,
    MatchReport,
    PairInfo,
    Relation,
    UniqueFeaturesPage,
    Verdict,
    _Report,
)

ResponseFormat = Literal["concise", "detailed"]


class AnswerMeta(_Report):
    """What every tool answer may carry besides its report: whether, and how, it was cut."""

    truncated: bool = False
    total_items: int | None = None
    how_to_narrow: str | None = None


class MatchBrief(_Report):
    """One ranked counterpart, concisely: what decides it and a few shared tokens."""

    target_feature: int
    target_label: str | None = None
    relation: Relation
    calibrated_band: CalibratedBand
    match_score: float
    p_value: float | None = None
    target_mass_given_source: float | None = None
    source_mass_given_target: float | None = None
    shared_tokens: list[str]


class MatchReportConcise(AnswerMeta):
    """find_matches, concisely: the ranked counterparts with the numbers behind each."""

    response_format: Literal["concise"] = "concise"
    source_model: str
    source_feature: int
    source_label: str | None = None
    target_model: str
    has_counterpart: bool
    counterpart_ids: list[int]
    matches: list[MatchBrief]
    reading: str


class MatchReportDetailed(MatchReport, AnswerMeta):
    response_format: Literal["detailed"] = "detailed"


class ComparisonConcise(AnswerMeta):
    """compare_features, concisely: relation, band, the numbers behind them, token differences."""

    response_format: Literal["concise"] = "concise"
    source_model: str
    source_feature: int
    source_label: str | None = None
    target_model: str
    target_feature: int
    target_label: str | None = None
    relation: Relation
    calibrated_band: CalibratedBand
    match_score: float
    p_value: float | None = None
    activation_correlation: float | None = None
    target_mass_given_source: float | None = None
    source_mass_given_target: float | None = None
    source_only_fires: int | None = None
    target_only_fires: int | None = None
    shared_tokens: list[str]
    source_only_tokens: list[str]
    target_only_tokens: list[str]
    reading: str


class ComparisonReportDetailed(ComparisonReport, AnswerMeta):
    response_format: Literal["detailed"] = "detailed"


class ComparisonBatch(AnswerMeta):
    """compare_features against a list of target features: one comparison each."""

    response_format: ResponseFormat
    comparisons: list[ComparisonConcise] | list[ComparisonReport]


class DecompositionPartBrief(_Report):
    """One part (or parent), concisely."""

    feature: int
    label: str | None = None
    group: int
    relation: Relation
    calibrated_band: CalibratedBand
    target_mass_given_source: float | None = None
    source_mass_given_target: float | None = None
    distinctive_tokens: list[str]


class DecompositionConcise(AnswerMeta):
    """find_decomposition, concisely: the verdict, its numbers, the parts (or parents)."""

    response_format: Literal["concise"] = "concise"
    model: str
    feature: int
    label: str | None = None
    other_model: str
    verdict: Verdict
    explained_variance: float | None = None
    token_coverage: float
    n_groups: int
    parts: list[DecompositionPartBrief] | None = None
    part_ids: list[int] | None = None
    parents: list[DecompositionPartBrief] | None = None
    parent_ids: list[int] | None = None
    refinement_ids: list[int] | None = None
    reading: str


class DecompositionReportDetailed(DecompositionReport, AnswerMeta):
    response_format: Literal["detailed"] = "detailed"


class FeatureConcise(AnswerMeta):
    """describe_feature, concisely."""

    response_format: Literal["concise"] = "concise"
    model: str
    feature: int
    label: str | None = None
    dead: bool
    firing_rate: float
    fire_count: int
    distinctive_tokens: list[str]


class FeatureSummaryDetailed(FeatureSummary, AnswerMeta):
    response_format: Literal["detailed"] = "detailed"


class UniqueFeatureBrief(_Report):
    feature: int
    label: str | None = None
    fire_count: int
    distinctive_tokens: list[str]
    match_score: float | None = None
    relation: Relation | None = None


class UniqueFeaturesConcise(AnswerMeta):
    """list_unique_features, concisely."""

    response_format: Literal["concise"] = "concise"
    model: str
    other_model: str
    total: int
    offset: int
    next_offset: int | None = None
    feature_ids: list[int]
    features: list[UniqueFeatureBrief]


class UniqueFeaturesPageDetailed(UniqueFeaturesPage, AnswerMeta):
    response_format: Literal["detailed"] = "detailed"


class PairInfoAnswer(PairInfo, AnswerMeta):
    pass


class AlignmentSummaryAnswer(AlignmentSummary, AnswerMeta):
    pass
