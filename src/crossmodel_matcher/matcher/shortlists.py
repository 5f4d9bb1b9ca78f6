"""Per-feature shortlists: each feature's best SHORTLIST_SIZE candidates by match_score.

match_score depends on the pair alone, so each feature's best candidates can be found once
(seconds, block-wise over the all-pairs statistics) and cached beside the pair as
`cache/shortlists-v1.npz`. A find_matches query ranked by match_score then scores those
candidates only, and is still exact: each list keeps the score of the first candidate left
out (`cut`), and a query whose k-th score does not clear it (ties at the edge) scores every
candidate instead. A cache whose probe no longer matches the scorer is rebuilt.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from crossmodel_matcher.matcher import cache_files, scores
from crossmodel_matcher.matcher.candidates import CandidateScores, score_candidates
from crossmodel_matcher.rules import FEATURE_BLOCK, SHORTLIST_SIZE, SHORTLIST_TIE_MARGIN
from crossmodel_matcher.tables import ModelTables, PairTables

CACHE_NAME = "cache/shortlists-v1.npz"
log = logging.getLogger(__name__)


class Shortlists:
    """Best candidates per feature and direction: ids [F, K] (best first) and cut [F]."""

    def __init__(self, ids: dict[str, np.ndarray], cut: dict[str, np.ndarray]):
        self.ids, self.cut = ids, cut

    def arrays(self) -> dict[str, np.ndarray]:
        """The lists as cached beside the pair."""
        out = {f"{n}/ids": v for n, v in self.ids.items()}
        out.update({f"{n}/cut": v for n, v in self.cut.items()})
        return out

    def shortlist(self, source: str, feature: int, k: int) -> tuple[np.ndarray, float] | None:
        """Candidate ids of `feature` and the score a k-th match must beat; None if k > K."""
        ids = self.ids.get(source)
        if ids is None or k > ids.shape[1]:
            return None
        return ids[feature], float(self.cut[source][feature])


def _top(values: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k + 1 largest values, best first (ties at the edge: any)."""
    k1 = min(k + 1, values.shape[1])
    part = np.argpartition(values, values.shape[1] - k1, axis=1)[:, values.shape[1] - k1 :]
    v, i = np.take_along_axis(values, part, 1), np.take_along_axis(ids, part, 1)
    order = np.lexsort((i, -v), axis=1)
    return np.take_along_axis(v, order, 1), np.take_along_axis(i, order, 1)


def _match_block(pair: PairTables, lo: int, hi: int) -> np.ndarray:
    """match_score of first-model features lo..hi against every second-model feature."""
    a, b = pair.models
    wov = np.stack([
        scores.weighted_overlap_all(a.token_weights[f], b.weights_t, b.weight_sum) for f in range(lo, hi)
    ])
    if not pair.has_activations:
        return wov
    sab = np.asarray(pair.cross_sum_prod[lo:hi], dtype=np.float64)
    corr = np.stack([
        scores.pearson_from_sums(sab[i], a.col_sum[f], a.col_sumsq[f], b.col_sum, b.col_sumsq, pair.n_aligned)
        for i, f in enumerate(range(lo, hi))
    ])
    return scores.match_score(wov, corr)


def build(pair: PairTables, k: int = SHORTLIST_SIZE) -> Shortlists:
    """Each feature's best k candidates in the other model, both directions, in one pass."""
    a, b = pair.models
    rows_v, rows_i = [], []
    col_v = np.full((b.n_features, 0), -np.inf)  # the second model's rows, built as we go
    col_i = np.zeros((b.n_features, 0), dtype=np.int64)
    for lo in range(0, a.n_features, FEATURE_BLOCK):
        hi = min(a.n_features, lo + FEATURE_BLOCK)
        block = _match_block(pair, lo, hi)
        v, i = _top(block, np.broadcast_to(np.arange(b.n_features), block.shape), k)
        rows_v.append(v)
        rows_i.append(i)
        ids = np.broadcast_to(np.arange(lo, hi), (b.n_features, hi - lo))
        col_v, col_i = _top(np.hstack([col_v, block.T]), np.hstack([col_i, ids]), k)
    out_ids, out_cut = {}, {}
    for name, v, i in ((a.name, np.vstack(rows_v), np.vstack(rows_i)), (b.name, col_v, col_i)):
        n_cand = b.n_features if name == a.name else a.n_features
        kk = min(k, n_cand)
        out_ids[name] = np.ascontiguousarray(i[:, :kk], dtype=np.int32)
        out_cut[name] = v[:, kk] if kk < n_cand else np.full(len(v), -np.inf)
    return Shortlists(out_ids, out_cut)


def _probe_ok(pair: PairTables, lists: Shortlists) -> bool:
    """Whether the cached lists still agree with the scorer on one feature per direction."""
    for m in pair.models:
        ids = lists.ids.get(m.name)
        if ids is None or len(ids) != m.n_features:
            return False
        f = int(np.argmax(~m.dead)) if (~m.dead).any() else 0
        cs = score_candidates(pair, m, f)
        want = np.sort(cs.match)[::-1][: ids.shape[1]]
        if not np.allclose(np.sort(cs.match[ids[f]])[::-1], want, rtol=0, atol=1e-9):
            return False
    return True


def load_or_build(pair: PairTables, pair_dir: Path | None) -> Shortlists:
    """The cached lists of the pair at `pair_dir`, built (and cached) when missing or stale."""
    path = None if pair_dir is None else Path(pair_dir) / CACHE_NAME
    arrays = cache_files.read(path, pair.fingerprint)
    if arrays is not None:
        try:
            lists = Shortlists(
                {m.name: arrays[f"{m.name}/ids"] for m in pair.models},
                {m.name: arrays[f"{m.name}/cut"] for m in pair.models},
            )
        except KeyError:
            lists = None
        if lists is not None and _probe_ok(pair, lists):
            return lists
        log.info("candidate lists in %s no longer match the scores; rebuilding", path)
    lists = build(pair)
    if path is not None:
        cache_files.write(path, lists.arrays(), pair.fingerprint)
    return lists


def ranked(
    pair: PairTables, lists: Shortlists | None, score, src: ModelTables, feature: int, rank_by: str,
    top_n: int, also: np.ndarray | None = None,
) -> tuple[CandidateScores, np.ndarray]:
    """Scores (from `score(src, feature, targets=None)`) and the positions of the best `top_n`
    (ties: lower id first), best first.

    Ranked by match_score, only the feature's shortlist is scored when its edge is clear
    (with the ids `also`, scored beside it for the caller, in one pass); otherwise (another rank
    key, ties at the edge, no lists) every candidate is.
    """
    k = min(top_n, pair.other(src.name).n_features)
    got = lists.shortlist(src.name, feature, k) if lists is not None and rank_by == "match_score" else None
    if got is not None:
        ids, cut = got
        scored = np.union1d(ids, also).astype(np.int64) if also is not None else np.asarray(ids, dtype=np.int64)
        cs = score(src, feature, scored)
        at = np.searchsorted(scored, ids) if also is not None else np.arange(len(ids))
        order = at[np.lexsort((ids, -cs.match[at]))[:k]]
        if len(order) == k and cs.match[order[-1]] > cut + SHORTLIST_TIE_MARGIN:
            return cs, order
    cs = score(src, feature)
    key = cs.ranking(rank_by)
    kth = key[np.argpartition(-key, k - 1)[:k]].min()
    cand = np.flatnonzero(key >= kth)  # every tie at the edge, so the lower ids win them
    return cs, cand[np.lexsort((cand, -key[cand]))][:k]
