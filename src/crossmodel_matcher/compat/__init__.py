"""The original skill's Python API (`load_context`, `FeatureMatcher`) over the matcher core.

Code written for SplatNLP's cross-model matcher runs unchanged once its two imports read
``from crossmodel_matcher.compat import FeatureMatcher, load_context``. Every score comes from
the core (`matcher.scores` via the `Matcher` façade); this package only selects candidates,
orders them and renames fields. Original fields keep their meaning (`combined_score` is the
original formula, `notes` its bands); what the core adds sits in separate fields
(`match_score`, `relation`, `reading`, `evidence`).

Differences from the original, on purpose:
- `find_matches` scores every candidate by default. `n_candidates=N` scores N candidates
  chosen by a cheap high-recall pre-filter (co-firing, else distinctive tokens) instead of a
  random sample; `report.candidate_selection` says which.
- `matches` are ranked by the core's counterpart score (`rank_by="combined_score"` gives the
  original order), keeping the original's rule that only `combined_score > 0` is a match.
- Activation correlation is full-stream Pearson over aligned examples (zeros included).
"""

from __future__ import annotations

from crossmodel_matcher.compat.context import _MATCHERS, ModelContext, clear_context_cache, load_context
from crossmodel_matcher.compat.feature_matcher import (
    LINKED,
    PREFILTER_DISTINCTIVE_TOKENS,
    FeatureMatcher,
    _top_n,
)
from crossmodel_matcher.compat.reports import NOTES, FeatureMatch, MatchingReport

__all__ = [
    "LINKED",
    "NOTES",
    "PREFILTER_DISTINCTIVE_TOKENS",
    "FeatureMatch",
    "FeatureMatcher",
    "MatchingReport",
    "ModelContext",
    "_MATCHERS",
    "_top_n",
    "clear_context_cache",
    "load_context",
]
