"""The one relation rule: same / parent / child / related / none, from activation evidence.

Every tool types a pair of features with `relation_codes` (find_matches, compare_features,
find_decomposition, pair_alignment, list_unique_features). The rule reads two kinds of
evidence that a threshold difference between the SAEs barely moves:

- activation-mass containment, each way: the share of one feature's activation mass that
  falls on examples where the other fires. A latent that drops its weakest firings (TopK
  competition, L1 shrinkage) loses many firings but little mass, so the count of shared
  firings can halve while the mass share stays high;
- full-stream correlation (Pearson over every aligned example, zeros included).

Rule (numbers in rules.py); every relation but `none` needs the pair above chance, and a
containment relation also needs positive correlation and a count containment of at least
RELATION_MIN_CONTAINMENT one way (`eligible`):
- `same`: correlation >= SAME_MIN_CORRELATION and at least one feature lies inside the other
  (mass containment >= INSIDE_MIN_MASS one way);
- `parent` / `child`: one lies inside the other but they do not correlate as one feature,
  and they share distinctive tokens (weighted token overlap >= RELATION_MIN_TOKEN_OVERLAP:
  the content condition beside coverage, as the Tree SAE work adds a reconstruction one, so
  a concept another SAE merely absorbed is not called a refinement); the target is a parent
  when it holds more of the source's mass than the reverse;
- `related`: neither lies inside the other, correlation >= RELATED_MIN_CORRELATION;
- `none`: otherwise.
"""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.rules import (
    INSIDE_MIN_MASS,
    RELATED_MIN_CORRELATION,
    RELATION_MIN_CONTAINMENT,
    RELATION_MIN_TOKEN_OVERLAP,
    RELATION_POOL_SIZE,
    SAME_MIN_CORRELATION,
)

CODES = ("none", "related", "child", "parent", "same")
NONE, RELATED, CHILD, PARENT, SAME = range(5)


def mass_containment(
    src_idx: np.ndarray, src_val: np.ndarray, n_aligned: int,
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, targets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Activation-mass containment of one source column against target columns.

    The targets are columns `targets` of a column-compressed matrix (indptr, indices, data)
    over the same aligned examples. Returns (target_given_source, source_given_target): the
    share of the source's activation mass on examples where each target fires, and the share
    of each target's mass on examples where the source fires; 0 where a feature never fires.
    """
    targets = np.asarray(targets, dtype=np.int64)
    t_s, s_t = np.zeros(len(targets)), np.zeros(len(targets))
    total = float(np.asarray(src_val, dtype=np.float64).sum())
    starts, ends = np.asarray(indptr[targets]), np.asarray(indptr[targets + 1])
    lens = (ends - starts).astype(np.int64)
    live = np.flatnonzero(lens > 0)
    if len(live) == 0 or total <= 0:
        return t_s, s_t
    dense = np.zeros(n_aligned)
    dense[np.asarray(src_idx)] = src_val
    offsets = np.concatenate([[0], np.cumsum(lens[live])[:-1]])
    spans = list(zip(starts[live].tolist(), ends[live].tolist()))  # contiguous slices: no gather
    indices, data = np.asarray(indices), np.asarray(data)  # plain views: slicing a memmap is slow
    hit = dense[np.concatenate([indices[a:b] for a, b in spans])]
    val = np.concatenate([data[a:b] for a, b in spans]).astype(np.float64)
    t_s[live] = np.add.reduceat(hit, offsets) / total
    tgt_total = np.add.reduceat(val, offsets)
    on_src = np.add.reduceat(np.where(hit > 0, val, 0.0), offsets)
    s_t[live] = np.divide(on_src, tgt_total, out=np.zeros(len(live)), where=tgt_total > 0)
    return t_s, s_t


def relation_codes(
    correlation: np.ndarray,
    t_given_s: np.ndarray,
    s_given_t: np.ndarray,
    eligible: np.ndarray,
    above: np.ndarray,
    shared_tokens: np.ndarray | None = None,
) -> np.ndarray:
    """Relation code of each target to the source (see the module docstring).

    `t_given_s` / `s_given_t`: activation-mass containment; `eligible`: the candidate is in the
    relation pool (positive correlation, count containment >= RELATION_MIN_CONTAINMENT one way),
    which a containment relation needs; `above`: above chance (best-of-N); `shared_tokens`:
    weighted token overlap >= RELATION_MIN_TOKEN_OVERLAP, which parent and child need.
    """
    corr = np.asarray(correlation, dtype=np.float64)
    t_s, s_t = np.asarray(t_given_s, dtype=np.float64), np.asarray(s_given_t, dtype=np.float64)
    ok = np.asarray(eligible, dtype=bool)
    inside_t = ok & (t_s >= INSIDE_MIN_MASS)  # the source lies inside the target
    inside_s = ok & (s_t >= INSIDE_MIN_MASS)  # the target lies inside the source
    out = np.full(len(corr), NONE, dtype=np.int8)
    out[corr >= RELATED_MIN_CORRELATION] = RELATED
    tokens = np.ones(len(corr), dtype=bool) if shared_tokens is None else np.asarray(shared_tokens, dtype=bool)
    out[tokens & inside_s & ~(inside_t & (t_s > s_t))] = CHILD
    out[tokens & inside_t & ~(inside_s & (s_t >= t_s))] = PARENT
    out[(inside_t | inside_s) & (corr >= SAME_MIN_CORRELATION)] = SAME
    out[~np.asarray(above, dtype=bool)] = NONE
    return out


def eligible(corr: np.ndarray, t_given_s: np.ndarray, s_given_t: np.ndarray) -> np.ndarray:
    """Candidates that may be in a containment relation (see relation_pool)."""
    contained = np.maximum(np.asarray(t_given_s), np.asarray(s_given_t))
    return (np.asarray(corr) > 0) & (contained >= RELATION_MIN_CONTAINMENT)


def relation_reason(code: int, corr: float, t_s: float, s_t: float) -> str:
    """The numbers that decided a relation, in words."""
    share = (f"{t_s:.0%} of the source's activation mass lies where the target fires, "
             f"{s_t:.0%} of the target's where the source fires")
    return {
        SAME: f"correlation {corr:.2f} >= {SAME_MIN_CORRELATION} and one lies inside the other "
              f"(>= {INSIDE_MIN_MASS:.0%}): {share}",
        PARENT: f"the source lies inside the target (>= {INSIDE_MIN_MASS:.0%}), they share "
                f"distinctive tokens, correlation {corr:.2f} < {SAME_MIN_CORRELATION}: {share}",
        CHILD: f"the target lies inside the source (>= {INSIDE_MIN_MASS:.0%}), they share "
               f"distinctive tokens, correlation {corr:.2f} < {SAME_MIN_CORRELATION}: {share}",
        RELATED: f"neither lies inside the other with shared distinctive tokens, correlation "
                 f"{corr:.2f}: {share}",
        NONE: f"not above chance, or no containment and correlation {corr:.2f} < "
              f"{RELATED_MIN_CORRELATION}",
    }[int(code)]


def shares_tokens(weighted_overlap: np.ndarray) -> np.ndarray:
    """Parent and child need shared distinctive tokens (the content condition)."""
    return np.asarray(weighted_overlap) >= RELATION_MIN_TOKEN_OVERLAP


def relation_pool(corr: np.ndarray, t_given_s: np.ndarray, s_given_t: np.ndarray) -> np.ndarray:
    """Candidate positions that may be in a containment relation, most contained first.

    Positive correlation and a count containment of at least RELATION_MIN_CONTAINMENT either way
    (a feature whose activation mass lies inside another also fires on a fair share of its
    examples); at most RELATION_POOL_SIZE of them.
    """
    contained = np.maximum(np.asarray(t_given_s), np.asarray(s_given_t))
    cand = np.flatnonzero(eligible(corr, t_given_s, s_given_t))
    if len(cand) > RELATION_POOL_SIZE:
        cand = cand[np.argpartition(-contained[cand], RELATION_POOL_SIZE - 1)[:RELATION_POOL_SIZE]]
    return cand[np.lexsort((cand, -contained[cand]))]
