"""The evidence of one candidate: every signal, its null percentile and p-value, its relation,
and the counterpart test over all candidates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crossmodel_matcher.matcher.candidates import CandidateScores, relation_of
from crossmodel_matcher.matcher.null import NullModel
from crossmodel_matcher.rules import CHANCE_ALPHA, LINKED_RELATIONS, counterpart_candidates
from crossmodel_matcher.schemas import PairEvidence, calibrated_band, overlap_band, score_band
from crossmodel_matcher.tables import ModelTables, PairTables

Polysemantic = Callable[[str, int, int], bool]
"""(source model, source feature, target feature) -> the pair is a polysemantic part."""


def pair_evidence(
    pair: PairTables, null: NullModel, cs: CandidateScores, idx: int, polysemantic: Polysemantic | None
) -> PairEvidence:
    """Evidence of candidate position `idx` (its p-value from the scores' null, once per query)."""

    def pick(arr: np.ndarray | None) -> float | None:
        return None if arr is None else round(float(arr[idx]), 6)

    source = pair.model(cs.source)
    p = float(cs.p_values(idx)[0])
    above = bool(p < CHANCE_ALPHA) and not bool(source.dead[cs.feature])
    corr = pick(cs.correlation)
    t_s, s_t = pick(cs.target_given_source), pick(cs.source_given_target)
    jac, comb, match = float(cs.jaccard[idx]), float(cs.combined[idx]), float(cs.match[idx])
    relation = (relation_of(t_s, s_t, corr) if t_s is not None else "related") if above else "none"
    if above and polysemantic is not None and polysemantic(cs.source, cs.feature, cs.target_id(idx)):
        relation = "part-of-polysemantic"
    return PairEvidence(
        jaccard=round(jac, 6),
        weighted_overlap=round(float(cs.weighted_overlap[idx]), 6),
        activation_correlation=corr,
        target_given_source=t_s,
        source_given_target=s_t,
        cofire_count=None if cs.cofire is None else int(cs.cofire[idx]),
        decoder_cosine=pick(cs.cosine),
        combined_score=round(comb, 6),
        match_score=round(match, 6),
        overlap_band=overlap_band(jac),
        score_band=score_band(comb),
        relation=relation,
        null_percentile=null.direction(cs.source).percentile("match_score", match),
        p_value=float(f"{p:.3g}"),
        above_chance=above,
        calibrated_band=calibrated_band(match, above, relation in LINKED_RELATIONS),
    )


def has_counterpart(source: ModelTables, feature: int, cs: CandidateScores) -> bool:
    """Whether any candidate is a counterpart: the counterpart rule (rules.counterpart_candidates)
    and above chance (best-of-N)."""
    if source.dead[feature]:
        return False
    cand = np.flatnonzero(
        counterpart_candidates(cs.correlation, cs.target_given_source, cs.source_given_target, cs.weighted_overlap)
    )
    if len(cand) == 0:
        return False
    return bool((cs.p_values(cand) < CHANCE_ALPHA).any())
