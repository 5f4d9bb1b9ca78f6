"""Answers sized for agents: concise projections of the reports, the size budget, the text block.

No MCP here. A concise answer is a projection of the detailed report: every concise field is
filled from the report's field of the same name (or its `evidence`'s), so the two formats share
one vocabulary and a field added to both flows through. Token lists become names only. Every
answer then passes `fit()`: if its compact JSON exceeds ANSWER_BUDGET_CHARS, its largest list is
cut to fit and the answer says so (`truncated`, `total_items`, `how_to_narrow`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from crossmodel_matcher.answer_schemas import (
    AlignmentSummary,
    AlignmentSummaryAnswer,
    ComparisonConcise,
    ComparisonReport,
    ComparisonReportDetailed,
    DecompositionConcise,
    DecompositionPartBrief,
    DecompositionReport,
    DecompositionReportDetailed,
    FeatureConcise,
    FeatureSummary,
    FeatureSummaryDetailed,
    MatchBrief,
    MatchReport,
    MatchReportConcise,
    MatchReportDetailed,
    PairInfo,
    PairInfoAnswer,
    UniqueFeatureBrief,
    UniqueFeaturesConcise,
    UniqueFeaturesPage,
    UniqueFeaturesPageDetailed,
)
from crossmodel_matcher.rules import ANSWER_BUDGET_CHARS, CONCISE_TOKENS


def compact_json(data: Any) -> str:
    """JSON without indentation or spaces: the text block, and what the budget measures."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _names(tokens: list) -> list[str]:
    return [t.token if hasattr(t, "token") else str(t) for t in tokens[:CONCISE_TOKENS]]


def project(cls: type[BaseModel], *sources: Any, **given: Any) -> BaseModel:
    """`cls` filled from `given`, else from the first source with a same-named attribute.

    Token lists (of TokenWeight) become token names; floats keep the report's value.
    """
    values = dict(given)
    for name in cls.model_fields:
        if name in values:
            continue
        for src in sources:
            if src is not None and hasattr(src, name):
                value = getattr(src, name)
                if isinstance(value, list) and value and hasattr(value[0], "token"):
                    value = _names(value)
                values[name] = value
                break
    return cls.model_validate(values)


# ---- concise projections ------------------------------------------------------------------------
def matches_concise(r: MatchReport) -> MatchReportConcise:
    briefs = [project(MatchBrief, m, m.evidence) for m in r.matches]
    return project(MatchReportConcise, r, matches=briefs)


def comparison_concise(r: ComparisonReport) -> ComparisonConcise:
    return project(
        ComparisonConcise, r, r.evidence, r.tokens,
        source_model=r.source.model, source_feature=r.source.feature, source_label=r.source.label,
        target_model=r.target.model, target_feature=r.target.feature, target_label=r.target.label,
    )


def decomposition_concise(r: DecompositionReport) -> DecompositionConcise:
    briefs = [project(DecompositionPartBrief, p, p.evidence) for p in r.parts or r.parents]
    if r.parents:  # a wide feature: its parents
        return project(DecompositionConcise, r, parts=None, part_ids=None, parents=briefs,
                       refinement_ids=None)  # siblings: named in the reading
    return project(DecompositionConcise, r, parts=briefs, parents=None, parent_ids=None,
                   refinement_ids=r.refinement_ids or None)


def feature_concise(r: FeatureSummary) -> FeatureConcise:
    return project(FeatureConcise, r)


def unique_concise(r: UniqueFeaturesPage) -> UniqueFeaturesConcise:
    return project(UniqueFeaturesConcise, r, features=[project(UniqueFeatureBrief, u) for u in r.features])


CONCISE: dict[type, tuple[Callable[[Any], BaseModel], type[BaseModel]]] = {
    MatchReport: (matches_concise, MatchReportDetailed),
    ComparisonReport: (comparison_concise, ComparisonReportDetailed),
    DecompositionReport: (decomposition_concise, DecompositionReportDetailed),
    FeatureSummary: (feature_concise, FeatureSummaryDetailed),
    UniqueFeaturesPage: (unique_concise, UniqueFeaturesPageDetailed),
    PairInfo: (None, PairInfoAnswer),
    AlignmentSummary: (None, AlignmentSummaryAnswer),
}
"""Report type -> (its concise projection or None, its detailed answer model)."""


def shape(report: BaseModel, response_format: str = "concise") -> BaseModel:
    """The report as the answer model of `response_format` (reports without features: as is)."""
    concise, detailed = CONCISE[type(report)]
    if response_format == "concise" and concise is not None:
        return concise(report)
    return detailed.model_validate(report.model_dump())


# ---- the size budget ------------------------------------------------------------------------------
NARROW = {
    "matches": "ask for a smaller top_n, or response_format='concise'",
    "parts": "ask for a smaller max_parts, or response_format='concise'",
    "features": "ask for a smaller limit and page with next_offset, or filter (near_feature, token, relation)",
    "comparisons": "compare fewer target_features at once, or response_format='concise'",
}


def _largest_list(data: dict) -> tuple[dict, str] | None:
    """The (container, key) of the longest list by JSON size, at the top level or one below."""
    best, size = None, 0
    for holder in [data] + [v for v in data.values() if isinstance(v, dict)]:
        for key, value in holder.items():
            if isinstance(value, list) and len(value) > 1:
                n = len(compact_json(value))
                if n > size:
                    best, size = (holder, key), n
    return best


def fit(data: dict, budget: int = ANSWER_BUDGET_CHARS) -> dict:
    """`data` (a dumped answer) cut to `budget` characters of compact JSON, saying so."""
    return fit_text(data, budget)[0]


def fit_text(data: dict, budget: int = ANSWER_BUDGET_CHARS) -> tuple[dict, str]:
    """fit(), with the answer's compact JSON: measured on the way, so serialised once."""
    text = compact_json(data)
    if len(text) <= budget:
        return data, text
    data = _cut(data, budget)
    return data, compact_json(data)


def _cut(data: dict, budget: int) -> dict:
    data = dict(data)
    data["truncated"] = True
    first = True
    while len(compact_json(data)) > budget:
        found = _largest_list(data)
        if found is None:
            break
        holder, key = found
        items = holder[key]
        if first:
            data["total_items"] = len(items)
            data["how_to_narrow"] = (
                f"the full answer has {len(items)} {key} and exceeds {budget:,} characters; "
                + NARROW.get(key, "ask for fewer items")
            )
            first = False
        over = len(compact_json(data)) - budget
        per = len(compact_json(items)) / len(items)
        keep = max(1, min(len(items) - 1, len(items) - int(over / per) - 1))
        holder[key] = items[:keep]
    if "features" in data and "feature_ids" in data:  # a page: ids and next offset follow the cut
        data["feature_ids"] = [f["feature"] for f in data["features"]]
        end = data["offset"] + len(data["features"])
        data["next_offset"] = end if end < data["total"] else None
    return data


def _dump(model: BaseModel, concise: bool) -> dict:
    if concise:
        return _rounded(model.model_dump(mode="json", exclude_none=True))
    return model.model_dump(mode="json")


def _rounded(value: Any) -> Any:
    """Floats to 3 decimals (3 significant digits below 0.001), recursively."""
    if isinstance(value, float):
        return round(value, 3) if abs(value) >= 1e-3 or value == 0 else float(f"{value:.3g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


META_DEFAULTS = {"truncated": False, "total_items": None, "how_to_narrow": None}


def answer(report: BaseModel | list, response_format: str = "concise") -> dict:
    """The structured content of one tool answer: shaped, dumped, within the budget.

    Concise answers leave out absent values (null) and round floats to 3 decimals; both
    formats leave out the truncation fields unless the answer was cut. A list of comparisons
    is one batch answer.
    """
    return answer_text(report, response_format)[0]


def answer_text(report: BaseModel | list, response_format: str = "concise") -> tuple[dict, str]:
    """answer(), with its compact JSON text (the tool result's text block)."""
    if isinstance(report, list):
        return batch_answer_text(report, response_format)
    shaped = shape(report, response_format)
    data = _dump(shaped, getattr(shaped, "response_format", None) == "concise")
    data = {k: v for k, v in data.items() if k not in META_DEFAULTS or v != META_DEFAULTS[k]}
    return fit_text(data)


def batch_answer_text(reports: list[ComparisonReport], response_format: str = "concise") -> tuple[dict, str]:
    """compare_features for a list of targets: one comparison each, within the budget."""
    concise = response_format == "concise"
    items = [_dump(comparison_concise(r) if concise else r, concise) for r in reports]
    drop = {"response_format"}  # said once, on the batch
    items = [
        {k: v for k, v in d.items() if k not in drop and (k not in META_DEFAULTS or v != META_DEFAULTS[k])}
        for d in items
    ]
    return fit_text({"response_format": response_format, "comparisons": items})
