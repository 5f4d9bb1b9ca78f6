"""Every rule, threshold, weight and limit: the one home of each number.

A leaf module (numpy only): schemas, scores, the null model, decompositions, alignment, the
caches beside a pair, the streamed build, the server's argument models and transport, and the
compat layer all read their numbers from here.
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

# ---- the relation rule (matcher/relations.py); token-only fallbacks -----------------------
SAME_MIN_CORRELATION = 0.7
"""Full-stream correlation at which two features, one inside the other, are one feature."""
INSIDE_MIN_MASS = 0.6
"""Share of a feature's activation mass on the other's firing examples that puts it inside the
other (activation-mass containment: a threshold difference between two SAEs barely moves it;
two independent halves of one concept reach about 0.5)."""
RELATION_MIN_CONTAINMENT = 0.2
"""Count containment (either way) a containment relation needs besides the mass share."""
RELATION_MIN_TOKEN_OVERLAP = 0.1
"""Weighted token overlap parent and child need: one feature inside another must also share
its distinctive tokens (the content condition beside coverage)."""
RELATION_POOL_SIZE = 64
"""At most this many candidates per query (most contained first) have their mass measured."""
RELATED_MIN_CORRELATION = 0.2
"""Correlation at which two features that contain neither one another count as `related`."""
COUNTERPART_MIN_WEIGHTED_OVERLAP = 0.25
"""Without activations: weighted token overlap a counterpart (or a parent) must reach."""
RELATIONS_DOC = {
    "same": f"correlation >= {SAME_MIN_CORRELATION} and one lies inside the other: one-to-one",
    "parent": "the source lies inside the target, they share distinctive tokens, correlation "
    "below that: the target is broader",
    "child": "the target lies inside the source, they share distinctive tokens, correlation "
    "below that: a refinement of the source",
    "part-of-polysemantic": "one of the unrelated parts a polysemantic narrow feature falls apart into",
    "related": f"correlation >= {RELATED_MIN_CORRELATION}, neither lies inside the other",
    "none": "no evidence of a relation above chance",
}
RELATION_RULE_DOC = (
    f"Inside: >= {INSIDE_MIN_MASS:.0%} of a feature's activation mass lies on examples where the "
    f"other fires (and >= {RELATION_MIN_CONTAINMENT:.0%} of its firings); sharing tokens: weighted "
    f"token overlap >= {RELATION_MIN_TOKEN_OVERLAP}; every relation but "
    "`none` needs the pair above chance (best-of-N null)."
)
LINKED_RELATIONS = ("same", "parent", "child", "part-of-polysemantic")
"""Relations that make a match a counterpart (find_matches lists them first)."""

# ---- calibrated band and the null model -------------------------------------------------
CALIBRATED_STRONG = 0.5
CALIBRATED_MODERATE = 0.25
CHANCE_ALPHA = 0.01
"""Best-of-N p-value under which a match is above chance."""
NULL_SOURCES = 48  # random live source features per direction
NULL_SAMPLES = 200_000  # pairwise null values kept per signal and direction
NULL_SEED = 0

# ---- decompositions ---------------------------------------------------------------------
PART_MIN_INSIDE = 0.5
"""P(source fires | part fires): a candidate part of the regression lies mostly inside."""
CANDIDATE_POOL = 64
PART_MIN_GAIN = 0.01  # R^2 a part must add
PART_MIN_TOKEN_GAIN = 0.05  # token coverage a part must add (tokens only)
GROUP_MIN_OVERLAP = 0.2  # weighted token overlap that puts two parts in one concept group
MIN_EXPLAINED = 0.25  # below this R^2 (or token coverage) there is no counterpart
MIXTURE_MIN_REST = 0.1  # R^2 unrelated parts must add beyond a same counterpart to make a mixture
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
CACHE_THREADS = 4
"""Most threads computing a pair's relation pools (matcher/pool_masses.py), min(this, CPU cores)."""
SHORTLIST_TIE_MARGIN = 1e-9
"""A query's k-th score must beat its shortlist's first left-out score by this much."""

# ---- sizes of report lists ----------------------------------------------------------------
MATCH_SHARED_TOKENS = 15  # shared tokens listed per match
BRIEF_TOKENS = 8  # distinctive tokens of a unique feature or a decomposition part
READING_MAX_IDS = 12  # part ids named in a decomposition reading
READING_MAX_COUNTERPARTS = 8  # counterpart ids named in a find_matches reading


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


# ---- building a pair (store/) and the caches beside it (matcher/) ---------------------------
DEFAULT_SAMPLE_EXAMPLES = 50_000
"""Aligned examples whose activations a streamed build keeps (find_decomposition, masses)."""
TOP_EXAMPLES_PER_FEATURE = 100
"""Top examples kept per feature when derived from activations (as SplatNLP's store keeps)."""
WEIGHT_MIN_FRACTION = 0.01
"""Lift weights below this fraction of a feature's largest weight are set to 0 (noise)."""
BLOCK_SHARE = 48
"""One block of rows is this share of the memory limit: 256 MB at the default on a 24 GB machine."""
MIN_BLOCK_BYTES, MAX_BLOCK_BYTES = 32 << 20, 512 << 20
BLOCK_BYTES = 256 << 20
"""Dense bytes a reader puts in one block (rows x features x 4)."""
READ_AHEAD = 2
"""Blocks a reader thread may hold ready while the current one is computed."""
CHECKPOINT_SECONDS = 120.0
"""A streamed build saves its partial sums at most this often (and after the narrow model)."""
CALIBRATION_ROWS = 512
"""Rows of the first block that are multiplied both ways to measure the dense and sparse costs."""
SORT_CHUNK_ENTRIES = 1 << 23
"""Entries sorted at once when ordering each sampled column by example."""
FALLBACK_MEMORY = 8 << 30
"""Physical memory assumed where the machine's cannot be read."""
FEATURE_BLOCK = 256
"""Features handled at a time when a cache beside the pair is computed (shortlists, relation
pools, alignment)."""

# ---- pair files: checks on open, memory budget, crash-safe writes ---------------------------
QUICK_HASH_MAX_BYTES = 8 << 20
"""Files up to this size are re-hashed at every start (~5 ms per 8 MB); `info --verify` does all."""
CHECK_BLOCK_VALUES = 1 << 22
"""Values checked at a time when an array's range is checked on open (bounded memory)."""
MEMORY_DEFAULT_SHARE = 0.5
"""Share of physical memory a build or load may plan to use unless a limit is given."""
UNUSED_WIDTH_MIN = 64
"""A trailing run of never-used feature ids counts as a suspicious declared width when it is over
half the width and at least this long (an SAE's dead features are spread over its ids, not piled
at the end)."""
LEGACY_STALE_SECONDS = 3600
"""Temporary folders without a writer pid in their name (older releases) count as stale after this."""

# ---- the server ---------------------------------------------------------------------------------
LIGHT_THREADS = 2
"""Threads for light tools (list_models, pair_alignment): they never queue behind heavy calls."""
MAX_QUERY_WORKERS = 4
"""Most worker processes for heavy queries (`serve --workers`, default min(this, CPU cores))."""
WORKER_NICENESS = 10
"""Query workers run this much nicer than the server, so its event loop gets the CPU first."""
STDIO_MAX_LINE_BYTES = 1 << 30
"""Longest line the stdio transport reads (server/pipes.py; the SDK's own reader has no limit)."""
ECHO_MAX_CHARS = 60
"""An unknown tool or argument name is echoed back at most this long (then '...')."""
