"""Which report each figure is drawn from: the one place that asks a matcher for figures.

The CLI report command and the MCP figure tool both come through here, so one (kind, model,
feature) gives the same picture everywhere.
"""

from __future__ import annotations

from crossmodel_matcher.errors import MatcherInputError
from crossmodel_matcher.figures.containment import containment_plane
from crossmodel_matcher.figures.decomposition import decomposition_bars
from crossmodel_matcher.figures.kinds import CONTAINMENT_TOP_N, FIGURE_KINDS
from crossmodel_matcher.figures.overview import pair_overview
from crossmodel_matcher.figures.page import report_page
from crossmodel_matcher.figures.style import FigureImage
from crossmodel_matcher.matcher import Matcher


def render_figure(matcher: Matcher, kind: str, model: str | None = None, feature: int | None = None) -> FigureImage:
    """Draw one figure kind from the matcher's report for (model, feature)."""
    if kind == "overview":
        return pair_overview(matcher.alignment_summary())
    if kind not in FIGURE_KINDS:
        raise MatcherInputError(f"kind must be one of {', '.join(FIGURE_KINDS)} (got {kind!r})")
    if model is None or feature is None:
        raise MatcherInputError(f"a {kind} figure needs model and feature")
    if kind == "containment":
        return containment_plane(matcher.find_matches(model, feature, top_n=CONTAINMENT_TOP_N))
    return decomposition_bars(matcher.find_decomposition(model, feature))


def feature_report_page(matcher: Matcher, model: str, feature: int) -> str:
    """The self-contained HTML page about one feature, with every figure kind."""
    summary = matcher.describe_feature(model, feature)
    matches = matcher.find_matches(model, feature, top_n=CONTAINMENT_TOP_N)
    decomposition = matcher.find_decomposition(model, feature)
    figures = [
        containment_plane(matches),
        decomposition_bars(decomposition),
        pair_overview(matcher.alignment_summary()),
    ]
    return report_page(summary, matches, decomposition, figures, matcher.info())
