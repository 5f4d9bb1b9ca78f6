"""`FeatureMatcher`: candidate selection (all, or a pre-filter), ordering and renaming over the
core's scores and evidence."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from crossmodel_matcher.compat.context import ModelContext
from crossmodel_matcher.compat.reports import NOTES, FeatureMatch, MatchingReport
from crossmodel_matcher.matcher import Matcher, MatcherInputError, scores
from crossmodel_matcher.matcher.candidates import CandidateScores
from crossmodel_matcher.rules import LINKED_RELATIONS, RANK_KEYS
from crossmodel_matcher.schemas import Match

LINKED = LINKED_RELATIONS
"""Relations that make a match a counterpart (as the core's `counterpart_ids`)."""

PREFILTER_DISTINCTIVE_TOKENS = 8
"""Tokens-only pairs: the pre-filter reads the source's this many most distinctive tokens."""


# ---- candidate selection -------------------------------------------------------------------
def _top_n(primary: np.ndarray, secondary: np.ndarray, n: int) -> np.ndarray:
    """Ids of the n largest `primary`, ties by larger `secondary`, then smaller id; sorted."""
    size = len(primary)
    if n >= size:
        return np.arange(size)
    kth = np.partition(primary, size - n)[size - n]
    above = np.flatnonzero(primary > kth)
    tied = np.flatnonzero(primary == kth)
    need = n - len(above)
    if need < len(tied):
        sec = secondary[tied]
        kth2 = np.partition(sec, len(sec) - need)[len(sec) - need]
        above2 = tied[sec > kth2]
        tied2 = tied[sec == kth2]  # ascending ids
        tied = np.concatenate([above2, tied2[: need - len(above2)]])
    return np.sort(np.concatenate([above, tied]))


def _check_find_args(n_candidates: object, n_top_matches: object, rank_by: object) -> None:
    for name, value in (("n_candidates", n_candidates), ("n_top_matches", n_top_matches)):
        if value is None and name == "n_candidates":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise MatcherInputError(f"{name} must be a positive integer, got {value!r}")
    if rank_by not in RANK_KEYS:
        raise MatcherInputError(f"rank_by={rank_by!r} is not one of {', '.join(RANK_KEYS)}")


class FeatureMatcher:
    """Find and compare counterparts of features across the two models of a pair."""

    def __init__(self, source_ctx: ModelContext, target_ctx: ModelContext | None = None):
        if not isinstance(source_ctx, ModelContext):
            raise TypeError(f"source_ctx must come from load_context(), got {type(source_ctx).__name__}")
        if target_ctx is None:
            target_ctx = ModelContext(source_ctx.other_model(), source_ctx.matcher, source_ctx.pair_dir)
        elif not isinstance(target_ctx, ModelContext):
            raise TypeError(f"target_ctx must come from load_context(), got {type(target_ctx).__name__}")
        if target_ctx.matcher is not source_ctx.matcher:
            where = [str(c.pair_dir or "an in-memory Matcher") for c in (source_ctx, target_ctx)]
            raise MatcherInputError(
                f"target_ctx is from a different pair ({where[1]}) than source_ctx ({where[0]}); "
                "load both with the same data, or leave target_ctx out"
            )
        if target_ctx.model_type == source_ctx.model_type:
            raise MatcherInputError(
                f"source and target are both model {source_ctx.model_type!r}; the target must be "
                f"the pair's other model ({source_ctx.other_model()!r}), or leave target_ctx out"
            )
        self.source_ctx = source_ctx
        self.target_ctx = target_ctx
        self.matcher: Matcher = source_ctx.matcher

    # ---- scoring -----------------------------------------------------------------------
    def prefilter(self, source_feature: int, n_candidates: int) -> tuple[np.ndarray, str]:
        """The `n_candidates` target ids most likely to hold the best match, and how chosen.

        With activations: co-firing, cofire / sqrt(n_source * n_target) (the geometric mean of
        the two directed containments) from one row of the stored co-fire counts. Without:
        the weight a target shares on the source's most distinctive tokens. Ties go to the
        larger top-50 token Jaccard (bit-packed popcount), then the smaller id.
        """
        m = self.matcher
        src, tgt = m.model(self.source_ctx.model_type), m.model(self.target_ctx.model_type)
        f = source_feature
        jac, _ = scores.jaccard_all(src.top_bits[f], int(src.top_size[f]), tgt.top_bits, tgt.top_size)
        if m.pair.has_activations:
            _, cof = m.pair.cross_rows(src.name, f)
            cof = np.asarray(cof, dtype=np.float64)
            key = np.sqrt(scores.containment(cof, src.col_nnz[f]) * scores.containment(cof, tgt.col_nnz))
            how = "co-firing: cofire / sqrt(n_source * n_target) over aligned examples"
        else:
            w = src.token_weights[f]
            nz = np.flatnonzero(w)
            top = nz[np.argsort(-w[nz], kind="stable")[:PREFILTER_DISTINCTIVE_TOKENS]]
            key = np.minimum(tgt.weights_t[top], w[top, None]).sum(axis=0, dtype=np.float64)
            how = f"weight shared on the source's {PREFILTER_DISTINCTIVE_TOKENS} most distinctive tokens"
        ids = _top_n(key, jac, n_candidates)
        text = (
            f"prefilter: {len(ids)} of {tgt.n_features} {tgt.name} features by {how}; "
            "ties by top-50 token Jaccard"
        )
        return ids, text

    def score_candidates(self, source_feature: int, candidates: np.ndarray) -> CandidateScores:
        """The core's scores of `source_feature` against `candidates` only (arrays in their order)."""
        src = self.matcher.model(self.source_ctx.model_type)
        return self.matcher.candidate_scores(src, source_feature, np.asarray(candidates, dtype=np.int64))

    # ---- public API --------------------------------------------------------------------
    def find_matches(
        self,
        source_feature: int,
        n_candidates: int | None = None,
        n_top_matches: int = 10,
        rank_by: str = "match_score",
    ) -> MatchingReport:
        """Counterparts of `source_feature` among the target model's features.

        n_candidates: None scores every target feature; N scores the N chosen by
        `prefilter`. n_top_matches: how many matches to return. rank_by: one of
        match_score (default), combined_score (the original order), jaccard,
        weighted_overlap, activation_correlation.
        """
        t0 = time.perf_counter()
        m = self.matcher
        src, tgt = m.model(self.source_ctx.model_type), m.model(self.target_ctx.model_type)
        f = m.check_feature(src, source_feature, "source_feature")
        _check_find_args(n_candidates, n_top_matches, rank_by)
        if n_candidates is None or n_candidates >= tgt.n_features:
            ids = np.arange(tgt.n_features)
            cs = m.candidate_scores(src, f)
            selection = f"all {tgt.n_features} {tgt.name} features"
        else:
            ids, selection = self.prefilter(f, int(n_candidates))
            cs = self.score_candidates(f, ids)
        key = cs.ranking(rank_by)
        ranked_by = rank_by if (rank_by != "activation_correlation" or cs.correlation is not None) else "match_score"
        eligible = np.flatnonzero(cs.combined > 0)  # the original kept only combined_score > 0
        order = eligible[np.lexsort((ids[eligible], -key[eligible]))][: int(n_top_matches)]

        core_matches = self._core_matches(f, cs, ids, order)
        matches = [self._feature_match(f, core) for core in core_matches]
        dead = bool(src.dead[f])
        counterparts = [c.target_feature for c in core_matches if not dead and c.evidence.relation in LINKED]
        reading = m.report_reading(src, f, tgt, core_matches, bool(counterparts), dead)
        if len(ids) < tgt.n_features:
            reading += f" (Searched {len(ids)} prefiltered candidates of {tgt.n_features}.)"
        return MatchingReport(
            source_feature=f,
            source_model=src.name,
            target_model=tgt.name,
            matches=matches,
            n_candidates_tested=int(len(ids)),
            best_correlation=matches[0].activation_correlation if matches else 0.0,
            n_target_features=tgt.n_features,
            candidate_selection=selection,
            ranked_by=ranked_by,
            signals_used=["tokens", "activations"] if m.pair.has_activations else ["tokens"],
            has_counterpart=bool(counterparts),
            counterparts=counterparts,
            source_dead=dead,
            reading=reading,
            elapsed_ms=round((time.perf_counter() - t0) * 1000, 3),
        )

    def _core_matches(self, f: int, cs: CandidateScores, ids: np.ndarray, order: np.ndarray) -> list[Match]:
        """The core's Match of each chosen candidate position, in rank order."""
        m = self.matcher
        src, tgt = m.model(self.source_ctx.model_type), m.model(self.target_ctx.model_type)
        out = []
        for rank, j in enumerate(order.tolist(), start=1):
            t = int(ids[j])
            ev = m.evidence(cs, j)
            out.append(Match(
                rank=rank, target_feature=t, target_label=tgt.label(t), evidence=ev,
                shared_tokens=m.shared_tokens(src, f, tgt, t), reading=m.match_reading(tgt.name, t, ev),
            ))
        return out

    def compare_features(self, source_fid: int, target_fid: int) -> dict[str, Any]:
        """Two features side by side: the original's keys, then the core's evidence."""
        m = self.matcher
        src, tgt = m.model(self.source_ctx.model_type), m.model(self.target_ctx.model_type)
        fs = m.check_feature(src, source_fid, "source_fid")
        ft = m.check_feature(tgt, target_fid, "target_fid")
        rep = m.compare_features(src.name, fs, ft)
        ev = rep.evidence
        return {
            "source_feature": fs,
            "source_model": src.name,
            "target_feature": ft,
            "target_model": tgt.name,
            "shared_tokens": [t.token for t in rep.tokens.shared_tokens],
            "source_only_tokens": [t.token for t in rep.tokens.source_only_tokens],
            "target_only_tokens": [t.token for t in rep.tokens.target_only_tokens],
            "jaccard_similarity": ev.jaccard,
            "activation_correlation": ev.activation_correlation or 0.0,
            "combined_score": ev.combined_score,
            "notes": NOTES[ev.score_band],
            # Additions from the core.
            "weighted_overlap": ev.weighted_overlap,
            "target_given_source": ev.target_given_source,
            "source_given_target": ev.source_given_target,
            "cofire_count": ev.cofire_count,
            "source_only_fires": rep.source_only_fires,
            "target_only_fires": rep.target_only_fires,
            "n_aligned_examples": rep.n_aligned_examples,
            "match_score": ev.match_score,
            "overlap_band": ev.overlap_band.value,
            "score_band": ev.score_band.value,
            "relation": ev.relation,
            "source_label": rep.source.label,
            "target_label": rep.target.label,
            "reading": rep.reading,
            "evidence": ev.model_dump(),
        }

    def _feature_match(self, source_feature: int, core: Match) -> FeatureMatch:
        ev = core.evidence
        return FeatureMatch(
            source_feature=source_feature,
            source_model=self.source_ctx.model_type,
            target_feature=core.target_feature,
            target_model=self.target_ctx.model_type,
            activation_correlation=ev.activation_correlation or 0.0,
            top_token_overlap=ev.jaccard,
            combined_score=ev.combined_score,
            shared_top_tokens=[t.token for t in core.shared_tokens],
            notes=NOTES[ev.score_band],
            rank=core.rank,
            target_label=core.target_label,
            match_score=ev.match_score,
            weighted_overlap=ev.weighted_overlap,
            overlap_band=ev.overlap_band.value,
            relation=ev.relation,
            reading=core.reading,
            evidence=ev,
        )
