"""Every signal of one source feature against the candidates of the other model, and the
argument checks every query shares. Pure functions of the pair: no null, no alignment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crossmodel_matcher.errors import MatcherInputError
from crossmodel_matcher.matcher import scores
from crossmodel_matcher.matcher.relate import Known, RelationTable
from crossmodel_matcher.schemas import Direction
from crossmodel_matcher.tables import ModelTables, PairTables


@dataclass
class CandidateScores:
    """Every signal of one source feature against all target features (arrays of len F_t)."""

    jaccard: np.ndarray
    weighted_overlap: np.ndarray
    combined: np.ndarray
    match: np.ndarray
    correlation: np.ndarray | None = None
    target_given_source: np.ndarray | None = None
    source_given_target: np.ndarray | None = None
    cofire: np.ndarray | None = None
    cosine: np.ndarray | None = None
    source: str = ""
    feature: int = -1
    target_ids: np.ndarray | None = None  # None: position i is target feature i
    relations: RelationTable | None = None  # the relation rule over these candidates

    def ranking(self, rank_by: str) -> np.ndarray:
        key = {
            "match_score": self.match,
            "combined_score": self.combined,
            "jaccard": self.jaccard,
            "weighted_overlap": self.weighted_overlap,
            "activation_correlation": self.correlation,
        }[rank_by]
        return key if key is not None else self.match

    def attach_null(self, chance: Callable[[np.ndarray], np.ndarray]) -> None:
        """Give these scores their null: `chance(positions)` -> best-of-N p-values."""
        self._chance = chance
        self._p = np.full(len(self.match), np.nan)

    def p_values(self, idx: np.ndarray | int) -> np.ndarray:
        """Best-of-N p-values at candidate positions `idx`; each is computed once per query."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        known = self._p[idx]
        missing = np.isnan(known)
        if not missing.any():
            return known
        todo = np.unique(idx[missing])
        self._p[todo] = self._chance(todo)
        return self._p[idx]

    def target_id(self, idx: int) -> int:
        return int(idx if self.target_ids is None else self.target_ids[idx])


def score_candidates(
    pair: PairTables, source: ModelTables, feature: int, targets: np.ndarray | None = None,
    known: Known | None = None,
) -> CandidateScores:
    """Every signal of `feature` against every feature of the other model.

    With `targets` (ids of the other model), only those candidates are scored, in that
    order: same numbers, a fraction of the work (compare_features, prefilters). `known`: the
    feature's cached relation pool with its masses (pool_masses.PoolMasses.known).
    """
    target = pair.other(source.name)
    sel = slice(None) if targets is None else np.asarray(targets, dtype=np.int64)
    jac, _ = scores.jaccard_all(
        source.top_bits[feature], int(source.top_size[feature]), target.top_bits[sel], target.top_size[sel]
    )
    # [V, F] either way; a few targets' rows are read from the row-major copy (a column
    # gather from weights_t costs ~100 us), laid out as weights_t[:, sel] would be.
    weights_t = target.weights_t if targets is None else np.ascontiguousarray(target.token_weights[sel].T)
    wov = scores.weighted_overlap_all(source.token_weights[feature], weights_t, target.weight_sum[sel])
    out = CandidateScores(jac, wov, scores.combined_score(jac, None), scores.match_score(wov, None))
    out.source, out.feature = source.name, feature
    out.target_ids = None if targets is None else np.asarray(targets, dtype=np.int64)
    if pair.has_activations:
        sab, cof = pair.cross_rows(source.name, feature)
        sab, cof = np.asarray(sab[sel]), np.asarray(cof[sel])
        corr = scores.pearson_from_sums(
            sab, source.col_sum[feature], source.col_sumsq[feature],
            target.col_sum[sel], target.col_sumsq[sel], pair.n_aligned,
        )
        out.correlation = corr
        out.cofire = cof.astype(np.float64)
        out.target_given_source = scores.containment(out.cofire, source.col_nnz[feature])
        out.source_given_target = scores.containment(out.cofire, target.col_nnz[sel])
        out.combined = scores.combined_score(jac, corr)
        out.match = scores.match_score(wov, corr)
        out.relations = RelationTable(
            pair, source, feature, corr, out.target_given_source, out.source_given_target,
            out.p_values, wov.__getitem__, out.target_ids, known,
        )
    if pair.decoder_comparable:
        out.cosine = scores.cosine_all(source.decoder[feature], target.decoder[sel])
    return out


# ---- argument checks shared by every query ---------------------------------------------------
def model_of(pair: PairTables, name: str) -> ModelTables:
    try:
        return pair.model(name)
    except KeyError as exc:
        raise MatcherInputError(exc.args[0]) from None


def check_feature(model: ModelTables, feature: int, arg: str = "feature") -> int:
    if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)):
        raise MatcherInputError(f"{arg} must be an integer feature id, got {feature!r}")
    if not 0 <= int(feature) < model.n_features:
        raise MatcherInputError(
            f"{arg}={feature} is out of range for model {model.name!r}: valid ids are "
            f"0..{model.n_features - 1}"
        )
    return int(feature)


def direction(source: ModelTables, target: ModelTables) -> Direction:
    if source.n_features < target.n_features:
        return "narrow_to_wide"
    if source.n_features > target.n_features:
        return "wide_to_narrow"
    return "same_width"
