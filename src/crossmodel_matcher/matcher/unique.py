"""list_unique_features: features with no counterpart, a page at a time, with filters.

Filters save calls: `near_feature` (a feature of the other model) ranks the unique features by
match_score to it and gives each its relation to it; `relation` keeps those in one relation to
the near feature; `token` keeps those for which the token is distinctive (lift weight > 0),
most distinctive first.
"""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.errors import MatcherInputError
from crossmodel_matcher.matcher import tokens
from crossmodel_matcher.rules import (
    BRIEF_TOKENS,
    CHANCE_ALPHA,
    MAX_UNIQUE_LIMIT,
    RELATION_RULE_DOC,
    check_count,
)
from crossmodel_matcher.schemas import RELATIONS, PairEvidence, UniqueFeature, UniqueFeaturesPage


def _by_token(m, ids: np.ndarray, token: str) -> np.ndarray:
    """The ids for which `token` is distinctive, most distinctive first."""
    if token not in m.vocab:
        raise MatcherInputError(
            f"token={token!r} is not in the pair's vocabulary; use a token as describe_feature lists it"
        )
    w = m.token_weights[ids, m.vocab.index(token)]
    return ids[np.argsort(-w, kind="stable")][: int((w > 0).sum())]


def _near(matcher, m, ids: np.ndarray, near_model: str | None, near_feature: int, relation: str | None):
    """The ids ranked by match_score to the near feature (ties: lower id), filtered by relation;
    and the evidence function of the near feature's scores."""
    other = matcher.pair.other(m.name)
    if near_model is not None and near_model != other.name:
        raise MatcherInputError(
            f"near_model={near_model!r} must be {other.name!r}, the other model: unique features "
            f"of {m.name!r} are compared with features of {other.name!r}"
        )
    f = matcher.check_feature(other, near_feature, "near_feature")
    cs = matcher.candidate_scores(other, f)  # every candidate: positions are feature ids
    ids = ids[np.lexsort((ids, -cs.match[ids]))]
    if relation is not None:
        above = cs.p_values(ids) < CHANCE_ALPHA if len(ids) else np.zeros(0, dtype=bool)
        ids = ids[~above] if relation == "none" else np.array(
            [t for t in ids[above] if matcher.evidence(cs, int(t)).relation == relation], dtype=np.int64
        )
    return ids, lambda t: matcher.evidence(cs, t)


def list_unique_features(
    matcher, model: str, offset: int = 0, limit: int = 50, near_feature: int | None = None,
    near_model: str | None = None, token: str | None = None, relation: str | None = None,
) -> UniqueFeaturesPage:
    """Live features of `model` with no counterpart above chance, filtered, one page."""
    m = matcher.model(model)
    check_count("offset", offset, 0, MatcherInputError)
    check_count("limit", limit, 1, MatcherInputError)
    if limit > MAX_UNIQUE_LIMIT:
        raise MatcherInputError(f"limit={limit} is out of range: use 1..{MAX_UNIQUE_LIMIT}")
    if relation is not None and relation not in RELATIONS:
        raise MatcherInputError(f"relation={relation!r} is not one of {', '.join(RELATIONS)}")
    if near_feature is None and (relation is not None or near_model is not None):
        raise MatcherInputError("relation and near_model filter by a near feature: give near_feature too")
    ids = np.asarray(matcher.alignment.unique_features(m.name), dtype=np.int64)
    if token is not None:
        ids = _by_token(m, ids, token)
    evidence_of = None
    if near_feature is not None:
        ids, evidence_of = _near(matcher, m, ids, near_model, near_feature, relation)
    page = [int(t) for t in ids[offset : offset + limit]]
    evidence: dict[int, PairEvidence] = {t: evidence_of(t) for t in page} if evidence_of else {}
    end = offset + len(page)
    return UniqueFeaturesPage(
        model=m.name,
        other_model=matcher.pair.other(m.name).name,
        definition="live, and no feature of the other model is a counterpart (relation same, "
        f"parent or child: {RELATION_RULE_DOC})",
        total=len(ids),
        offset=offset,
        limit=limit,
        next_offset=end if end < len(ids) else None,
        feature_ids=page,
        features=[
            UniqueFeature(
                feature=t,
                label=m.label(t),
                fire_count=int(m.fire_count[t]),
                firing_rate=round(float(m.fire_count[t]) / max(1, m.n_examples), 6),
                distinctive_tokens=tokens.distinctive_tokens(m, t, BRIEF_TOKENS),
                match_score=evidence[t].match_score if t in evidence else None,
                relation=evidence[t].relation if t in evidence else None,
            )
            for t in page
        ],
    )
