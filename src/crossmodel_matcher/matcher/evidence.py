"""The evidence of one candidate: every signal, its null percentile and p-value, its relation,
and the counterpart test over all candidates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crossmodel_matcher.matcher import relations as rel
from crossmodel_matcher.matcher.candidates import CandidateScores
from crossmodel_matcher.matcher.null import NullModel
from crossmodel_matcher.rules import CHANCE_ALPHA, COUNTERPART_MIN_WEIGHTED_OVERLAP, LINKED_RELATIONS
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
    relation, reason, mass = _relation(cs, idx, above, corr)
    if above and polysemantic is not None and polysemantic(cs.source, cs.feature, cs.target_id(idx)):
        relation = "part-of-polysemantic"
        reason = "the source is polysemantic (its decomposition) and this is one of its parts"
    return PairEvidence(
        jaccard=round(jac, 6),
        weighted_overlap=round(float(cs.weighted_overlap[idx]), 6),
        activation_correlation=corr,
        target_given_source=t_s,
        source_given_target=s_t,
        target_mass_given_source=mass[0],
        source_mass_given_target=mass[1],
        cofire_count=None if cs.cofire is None else int(cs.cofire[idx]),
        decoder_cosine=pick(cs.cosine),
        combined_score=round(comb, 6),
        match_score=round(match, 6),
        overlap_band=overlap_band(jac),
        score_band=score_band(comb),
        relation=relation,
        relation_reason=reason,
        null_percentile=null.direction(cs.source).percentile("match_score", match),
        p_value=float(f"{p:.3g}"),
        above_chance=above,
        calibrated_band=calibrated_band(match, above, relation in LINKED_RELATIONS),
    )


def _relation(cs: CandidateScores, idx: int, above: bool, corr: float | None):
    """Relation, its reason and the mass containment that decided it (relations.py)."""
    if cs.relations is None:
        why = "tokens only: no activations to type a containment relation"
        return ("related" if above else "none"), why, (None, None)
    code = int(cs.relations.codes(np.array([idx]))[0])
    mass = cs.relations.mass.get(idx)
    t_s, s_t = (None, None) if mass is None else (round(mass[0], 6), round(mass[1], 6))
    return rel.CODES[code], rel.relation_reason(code, corr or 0.0, t_s or 0.0, s_t or 0.0), (t_s, s_t)


def has_counterpart(source: ModelTables, feature: int, cs: CandidateScores) -> bool:
    """Whether any candidate is a counterpart: same, parent or child by the relation rule
    (relations.py, above chance); without activations, weighted overlap >= 0.25 above chance."""
    if source.dead[feature]:
        return False
    if cs.relations is not None:
        return len(cs.relations.linked()[0]) > 0
    cand = np.flatnonzero(cs.weighted_overlap >= COUNTERPART_MIN_WEIGHTED_OVERLAP)
    if len(cand) == 0:
        return False
    return bool((cs.p_values(cand) < CHANCE_ALPHA).any())
