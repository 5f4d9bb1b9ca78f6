"""Every rule, threshold, weight and limit of the matcher: the one home of each number.

A leaf module (numpy only): schemas, scores, the null model, decompositions, alignment,
the server's argument models and the compat layer all read their numbers from here.
"""

from __future__ import annotations

import numpy as np

# ---- the original method ----------------------------------------------------------------
TOP_K_TOKENS = 50
"""Size of a feature's top-token set (the original's `most_common(50)`)."""
TOP_FRACTION_DIVISOR = 10
"""The original kept `max(1, n // 10)` of a feature's top rows: the top 10%."""
MAX_TOP_ROWS = 1000
"""The original read at most 1,000 rows of a feature."""
COMBINED_JACCARD_WEIGHT = 0.4
COMBINED_CORRELATION_WEIGHT = 0.6
MATCH_CORRELATION_WEIGHT = 0.7
"""match_score = 0.7 * max(correlation, 0) + 0.3 * weighted overlap (with activations)."""
MATCH_OVERLAP_WEIGHT = 0.3

# Token-overlap bands of the original skill: Jaccard of the two top-50 token sets.
OVERLAP_STRONG = 0.3
OVERLAP_MODERATE = 0.1
# Bands of the original notes on the combined score.
SCORE_STRONG = 0.5
SCORE_GOOD = 0.3
SCORE_MODERATE = 0.1

# ---- counterparts and relations (activations); token-only fallbacks ----------------------
RELATION_CONTAINMENT = 0.6
"""Directed containment at which one feature counts as inside the other (Matryoshka MCS)."""
COUNTERPART_MIN_CONTAINMENT = RELATION_CONTAINMENT
"""A counterpart is a feature in a containment relation (same, parent or child): one fires on at
least 60% of the other's examples, they correlate positively over the full aligned stream, and
the co-firing beats chance (best-of-N null)."""
RELATED_MIN_CORRELATION = 0.2
"""Correlation at which two features that contain neither one another count as `related`."""
COUNTERPART_MIN_WEIGHTED_OVERLAP = 0.25
"""Without activations: weighted token overlap a counterpart (or a parent) must reach."""
LINKED_RELATIONS = ("same", "parent", "child", "part-of-polysemantic")
"""Relations that make a match a counterpart."""

# ---- calibrated band and the null model -------------------------------------------------
CALIBRATED_STRONG = 0.5
CALIBRATED_MODERATE = 0.25
CHANCE_ALPHA = 0.01
"""Best-of-N p-value under which a match is above chance."""
NULL_SOURCES = 48  # random live source features per direction
NULL_SAMPLES = 200_000  # pairwise null values kept per signal and direction
NULL_SEED = 0

# ---- decompositions ---------------------------------------------------------------------
# Decompositions use a looser containment (50%) than relations (60%): a part or a parent need
# only lie mostly inside; the trained-pair validity work settles which one is right.
PART_MIN_INSIDE = 0.5
"""P(source fires | part fires): a part lies mostly inside the source."""
PARENT_MIN_CONTAINMENT = 0.5
"""P(parent fires | wide feature fires)."""
PARENT_MIN_CORRELATION = 0.1
"""A parent must also correlate at least this much with the wide feature."""
SAME_MIN_CONTAINMENT = RELATION_CONTAINMENT
"""Both ways: one part is the feature itself."""
CANDIDATE_POOL = 64
PART_MIN_GAIN = 0.01  # R^2 a part must add
PART_MIN_TOKEN_GAIN = 0.05  # token coverage a part must add (tokens only)
GROUP_MIN_OVERLAP = 0.2  # weighted token overlap that puts two parts in one concept group
MIN_EXPLAINED = 0.25  # below this R^2 (or token coverage) there is no counterpart
ONE_TO_ONE_MAX_REST = 0.1  # ...and the other parts together add less R^2 than this
DECOMPOSITION_STRONG = 0.6  # R^2 (or coverage) of a strong decomposition evidence record
DECOMPOSITION_MODERATE = 0.3

# ---- request limits and defaults (core checks and tool argument models) -----------------
RANK_KEYS = ("match_score", "combined_score", "jaccard", "weighted_overlap", "activation_correlation")
"""rank_by values: each is the name of the field it ranks by."""
MAX_TOP_N = 100
DEFAULT_TOP_N = 10
MAX_PARTS = 24
DEFAULT_MAX_PARTS = 12
DEFAULT_N_TOKENS = 20
MAX_UNIQUE_LIMIT = 200
DEFAULT_UNIQUE_LIMIT = 50
MAX_OFFSET = 1_000_000
MAX_BATCH = 20
"""Most target features one compare_features call takes (target_features)."""

# ---- answers sized for agents ---------------------------------------------------------------
ANSWER_BUDGET_CHARS = 40_000
"""Most characters of structured content (compact JSON) any tool answer carries (~10K tokens);
longer answers are cut, saying so (truncated, total_items, how_to_narrow)."""
CONCISE_TOKENS = 3
"""Tokens per token list in a concise answer (names only, most distinctive first)."""
SHORTLIST_SIZE = MAX_TOP_N
"""Candidates kept per feature for find_matches by match_score (matcher/shortlists.py)."""
SHORTLIST_TIE_MARGIN = 1e-9
"""A query's k-th score must beat its shortlist's first left-out score by this much."""

# ---- sizes of report lists ----------------------------------------------------------------
MATCH_SHARED_TOKENS = 15  # shared tokens listed per match
BRIEF_TOKENS = 8  # distinctive tokens of a unique feature or a decomposition part
READING_MAX_IDS = 12  # part ids named in a decomposition reading
READING_MAX_COUNTERPARTS = 8  # counterpart ids named in a find_matches reading


def counterpart_candidates(
    correlation: np.ndarray | None,
    target_given_source: np.ndarray | None,
    source_given_target: np.ndarray | None,
    weighted_overlap: np.ndarray | None = None,
) -> np.ndarray:
    """Mask of candidates that may be counterparts before the chance test.

    With activations: positive correlation and containment >= 60% one way; without them,
    weighted token overlap >= 0.25.
    """
    if correlation is None:
        return np.asarray(weighted_overlap) >= COUNTERPART_MIN_WEIGHTED_OVERLAP
    contained = np.maximum(target_given_source, source_given_target)
    return (correlation > 0) & (contained >= COUNTERPART_MIN_CONTAINMENT)


def same_mask(target_given_source: np.ndarray, source_given_target: np.ndarray) -> np.ndarray:
    """Mask of pairs each inside the other (relation `same`)."""
    return (target_given_source >= RELATION_CONTAINMENT) & (source_given_target >= RELATION_CONTAINMENT)


def check_count(name: str, value: object, lo: int, error: type[Exception] = ValueError) -> int:
    """`value` as a plain int >= lo (booleans refused); else `error` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise error(f"{name}={value!r} must be an integer >= {lo}")
    return value


def check_range(name: str, value: object, lo: int, hi: int, error: type[Exception] = ValueError) -> int:
    """`value` as an int (numpy ints too, booleans refused) in lo..hi; else `error`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise error(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise error(f"{name}={value} is out of range: use {lo}..{hi}")
    return value
