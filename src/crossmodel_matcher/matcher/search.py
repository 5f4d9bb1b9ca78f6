"""find_matches / compare_features / describe_feature over every candidate of the other model."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from crossmodel_matcher.matcher import scores
from crossmodel_matcher.matcher.null import CHANCE_ALPHA, NullModel
from crossmodel_matcher.matcher.tables import ModelTables, PairTables
from crossmodel_matcher.schemas import (
    COUNTERPART_MIN_CONTAINMENT,
    COUNTERPART_MIN_WEIGHTED_OVERLAP,
    RELATED_MIN_CORRELATION,
    RELATION_CONTAINMENT,
    ComparisonReport,
    Direction,
    EvidenceRecord,
    FeatureSummary,
    Match,
    MatchReport,
    ModelInfo,
    PairEvidence,
    PairInfo,
    Relation,
    TokenComparison,
    TokenWeight,
    calibrated_band,
    overlap_band,
    score_band,
)

LINKED_RELATIONS = ("same", "parent", "child", "part-of-polysemantic")
"""Relations that make a match a counterpart."""
RANK_KEYS = ("match_score", "combined_score", "jaccard", "weighted_overlap", "correlation")
MAX_TOP_N = 200


class MatcherInputError(ValueError):
    """A request the matcher refuses; the message says which argument and what is valid."""


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

    def ranking(self, rank_by: str) -> np.ndarray:
        key = {
            "match_score": self.match,
            "combined_score": self.combined,
            "jaccard": self.jaccard,
            "weighted_overlap": self.weighted_overlap,
            "correlation": self.correlation,
        }[rank_by]
        return key if key is not None else self.match


def relation_of(t_given_s: float | None, s_given_t: float | None, corr: float | None) -> Relation:
    """Typed relation of target to source from directed containment (activations only)."""
    if t_given_s is None or s_given_t is None:
        return "none"
    inside_target = t_given_s >= RELATION_CONTAINMENT  # target fires where source fires
    inside_source = s_given_t >= RELATION_CONTAINMENT
    if inside_target and inside_source:
        return "same"
    if inside_target:
        return "parent"
    if inside_source:
        return "child"
    if corr is not None and corr >= RELATED_MIN_CORRELATION:
        return "related"
    return "none"


class CrossModelMatcher:
    """Answers matching queries over a loaded pair; holds no per-query state."""

    def __init__(self, pair: PairTables):
        self.pair = pair
        self.alignment = None  # set by Matcher once the pair's alignment summary is loaded
        self.null = NullModel(pair, self.candidate_scores)

    # ---- argument checks -----------------------------------------------------------------
    def model(self, name: str) -> ModelTables:
        try:
            return self.pair.model(name)
        except KeyError as exc:
            raise MatcherInputError(exc.args[0]) from None

    def check_feature(self, model: ModelTables, feature: int, arg: str = "feature") -> int:
        if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)):
            raise MatcherInputError(f"{arg} must be an integer feature id, got {feature!r}")
        if not 0 <= int(feature) < model.n_features:
            raise MatcherInputError(
                f"{arg}={feature} is out of range for model {model.name!r}: valid ids are "
                f"0..{model.n_features - 1}"
            )
        return int(feature)

    def direction(self, source: ModelTables, target: ModelTables) -> Direction:
        if source.n_features < target.n_features:
            return "narrow_to_wide"
        if source.n_features > target.n_features:
            return "wide_to_narrow"
        return "same_width"

    # ---- scoring -------------------------------------------------------------------------
    def candidate_scores(
        self, source: ModelTables, feature: int, targets: np.ndarray | None = None
    ) -> CandidateScores:
        """Every signal of `feature` against every feature of the other model.

        With `targets` (ids of the other model), only those candidates are scored, in that
        order: same numbers, a fraction of the work (compare_features, prefilters).
        """
        target = self.pair.other(source.name)
        sel = slice(None) if targets is None else np.asarray(targets, dtype=np.int64)
        jac, _ = scores.jaccard_all(
            source.top_bits[feature], int(source.top_size[feature]), target.top_bits[sel], target.top_size[sel]
        )
        weights_t = target.weights_t if targets is None else target.weights_t[:, sel]
        wov = scores.weighted_overlap_all(source.token_weights[feature], weights_t, target.weight_sum[sel])
        out = CandidateScores(jac, wov, scores.combined_score(jac, None), scores.match_score(wov, None))
        out.source, out.feature = source.name, feature
        out.target_ids = None if targets is None else np.asarray(targets, dtype=np.int64)
        if self.pair.has_activations:
            sab, cof = self.pair.cross_rows(source.name, feature)
            sab, cof = np.asarray(sab[sel]), np.asarray(cof[sel])
            corr = scores.pearson_from_sums(
                sab, source.col_sum[feature], source.col_sumsq[feature],
                target.col_sum[sel], target.col_sumsq[sel], self.pair.n_aligned,
            )
            out.correlation = corr
            out.cofire = cof.astype(np.float64)
            out.target_given_source = scores.containment(out.cofire, source.col_nnz[feature])
            out.source_given_target = scores.containment(out.cofire, target.col_nnz[sel])
            out.combined = scores.combined_score(jac, corr)
            out.match = scores.match_score(wov, corr)
        if self.pair.decoder_comparable:
            out.cosine = scores.cosine_all(source.decoder[feature], target.decoder[sel])
        return out

    def evidence(self, cs: CandidateScores, idx: int, p: float | None = None) -> PairEvidence:
        """Evidence of candidate position `idx`, with its null percentile and relation.

        `p` is its best-of-N p-value when the caller computed it in a batch.
        """

        def pick(arr: np.ndarray | None) -> float | None:
            return None if arr is None else round(float(arr[idx]), 6)

        source = self.pair.model(cs.source)
        target_id = int(idx if cs.target_ids is None else cs.target_ids[idx])
        null = self.null.direction(cs.source)
        if p is None:
            p = float(self.null.chance_p(source, cs.feature, cs, np.array([idx]))[0])
        above = bool(p < CHANCE_ALPHA) and not bool(source.dead[cs.feature])
        corr = pick(cs.correlation)
        t_s, s_t = pick(cs.target_given_source), pick(cs.source_given_target)
        jac = float(cs.jaccard[idx])
        comb = float(cs.combined[idx])
        match = float(cs.match[idx])
        relation = (relation_of(t_s, s_t, corr) if t_s is not None else "related") if above else "none"
        if above and self.alignment is not None:
            if self.alignment.in_polysemantic(cs.source, cs.feature, target_id):
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
            null_percentile=null.percentile("match_score", match),
            p_value=float(f"{p:.3g}"),
            above_chance=above,
            calibrated_band=calibrated_band(match, above, relation in LINKED_RELATIONS),
        )

    @staticmethod
    def evidence_record(src: str, f: int, tgt: str, t: int, ev: PairEvidence) -> EvidenceRecord:
        """The pair as a research-state evidence item with numeric key metrics."""
        metrics = {
            "jaccard": ev.jaccard,
            "weighted_overlap": ev.weighted_overlap,
            "activation_correlation": ev.activation_correlation,
            "containment_target_given_source": ev.target_given_source,
            "containment_source_given_target": ev.source_given_target,
            "combined_score": ev.combined_score,
            "match_score": ev.match_score,
            "null_percentile": ev.null_percentile,
            "p_value": ev.p_value,
            "decoder_cosine": ev.decoder_cosine,
        }
        band = ev.calibrated_band.value
        corr = "n/a" if ev.activation_correlation is None else f"{ev.activation_correlation:.2f}"
        return EvidenceRecord(
            summary=(
                f"Cross-model: {src} {f} vs {tgt} {t}: relation {ev.relation}, calibrated band {band} "
                f"(correlation {corr}, token Jaccard {ev.jaccard:.2f}, weighted overlap "
                f"{ev.weighted_overlap:.2f}, p={ev.p_value:.2g})"
            ),
            strength="weak" if band == "chance" else band,
            key_metrics={k: float(v) for k, v in metrics.items() if v is not None},
        )

    def has_counterpart(self, source: ModelTables, feature: int, cs: CandidateScores) -> bool:
        """Whether any candidate is a counterpart: containment >= 0.6 one way, positive
        correlation, and above chance (best-of-N); without activations, weighted overlap >= 0.25."""
        if source.dead[feature]:
            return False
        if cs.correlation is None:
            cand = np.flatnonzero(cs.weighted_overlap >= COUNTERPART_MIN_WEIGHTED_OVERLAP)
        else:
            contained = np.maximum(cs.target_given_source, cs.source_given_target)
            cand = np.flatnonzero(
                (cs.correlation > 0) & (contained >= COUNTERPART_MIN_CONTAINMENT)
            )
        if len(cand) == 0:
            return False
        return bool((self.null.chance_p(source, feature, cs, cand) < CHANCE_ALPHA).any())

    # ---- tokens --------------------------------------------------------------------------
    @staticmethod
    def _token_list(
        m: ModelTables, tokens: np.ndarray, weights: np.ndarray, counts: np.ndarray, limit: int | None = None
    ):
        """TokenWeights, most distinctive first (ties: higher count, then token id)."""
        order = np.lexsort((tokens, -counts, -weights))[:limit]
        return [
            TokenWeight(token=m.vocab[int(tokens[i])], weight=round(float(weights[i]), 6), count=int(counts[i]))
            for i in order
        ]

    def shared_tokens(
        self, a: ModelTables, fa: int, b: ModelTables, fb: int, limit: int | None = None
    ) -> list[TokenWeight]:
        """Tokens in both top-50 sets, most distinctive (smaller lift weight) first."""
        ids, counts = a.top_token_ids[fa], a.top_token_counts[fa]
        keep = (ids >= 0) & np.isin(ids, b.top_token_ids[fb][b.top_token_ids[fb] >= 0])
        ids, counts = ids[keep], counts[keep]
        weights = np.minimum(a.token_weights[fa, ids], b.token_weights[fb, ids])
        return self._token_list(a, ids, weights, counts, limit)

    def only_tokens(self, a: ModelTables, fa: int, b: ModelTables, fb: int) -> list[TokenWeight]:
        """Tokens of a's top-50 set missing from b's, most distinctive first."""
        ids, counts = a.top_token_ids[fa], a.top_token_counts[fa]
        keep = (ids >= 0) & ~np.isin(ids, b.top_token_ids[fb])
        ids, counts = ids[keep], counts[keep]
        return self._token_list(a, ids, a.token_weights[fa, ids], counts)

    def distinctive_tokens(self, m: ModelTables, feature: int, n: int = 10) -> list[TokenWeight]:
        w = m.token_weights[feature]
        order = np.argsort(-w, kind="stable")[:n]
        counts = dict(zip(m.top_token_ids[feature].tolist(), m.top_token_counts[feature].tolist()))
        return [
            TokenWeight(token=m.vocab[t], weight=round(float(w[t]), 6), count=counts.get(int(t), 0))
            for t in order
            if w[t] > 0
        ]

    # ---- public queries ------------------------------------------------------------------
    def describe_feature(self, model: str, feature: int, n_tokens: int = 20) -> FeatureSummary:
        m = self.model(model)
        f = self.check_feature(m, feature)
        top = [
            TokenWeight(token=m.vocab[t], weight=round(float(m.token_weights[f, t]), 6), count=int(c))
            for t, c in zip(m.top_token_ids[f][:n_tokens], m.top_token_counts[f][:n_tokens])
            if t >= 0
        ]
        return FeatureSummary(
            model=m.name,
            feature=f,
            label=m.label(f),
            dead=bool(m.dead[f]),
            firing_rate=round(float(m.fire_count[f]) / max(1, m.n_examples), 6),
            fire_count=int(m.fire_count[f]),
            max_activation=round(float(m.max_activation[f]), 6),
            mean_activation=round(float(m.mean_activation[f]), 6),
            top_tokens=top,
            distinctive_tokens=self.distinctive_tokens(m, f, n_tokens),
        )

    def find_matches(
        self, model: str, feature: int, top_n: int = 10, rank_by: str = "match_score"
    ) -> MatchReport:
        """Rank every feature of the other model as a counterpart of (model, feature)."""
        t0 = time.perf_counter()
        src = self.model(model)
        f = self.check_feature(src, feature)
        if isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)):
            raise MatcherInputError(f"top_n must be an integer, got {top_n!r}")
        if not 1 <= top_n <= MAX_TOP_N:
            raise MatcherInputError(f"top_n={top_n} is out of range: use 1..{MAX_TOP_N}")
        if rank_by not in RANK_KEYS:
            raise MatcherInputError(f"rank_by={rank_by!r} is not one of {', '.join(RANK_KEYS)}")
        tgt = self.pair.other(src.name)
        cs = self.candidate_scores(src, f)
        key = cs.ranking(rank_by)
        k = min(top_n, len(key))
        part = np.argpartition(-key, k - 1)[:k]
        order = part[np.lexsort((part, -key[part]))]
        matches = []
        p_values = self.null.chance_p(src, f, cs, order)
        for rank, (idx, p) in enumerate(zip(order, p_values), start=1):
            ev = self.evidence(cs, int(idx), float(p))
            matches.append(
                Match(
                    rank=rank,
                    target_feature=int(idx),
                    target_label=tgt.label(int(idx)),
                    evidence=ev,
                    shared_tokens=self.shared_tokens(src, f, tgt, int(idx), limit=15),
                    reading=self.match_reading(tgt.name, int(idx), ev),
                )
            )
        dead = bool(src.dead[f])
        has = self.has_counterpart(src, f, cs)
        signals = src.signals if self.pair.has_activations else ["tokens"]
        best = matches[0] if matches else None
        return MatchReport(
            source_model=src.name,
            source_feature=f,
            source_label=src.label(f),
            target_model=tgt.name,
            direction=self.direction(src, tgt),
            n_candidates_tested=tgt.n_features,
            signals_used=[s for s in signals if s != "decoder" or self.pair.decoder_comparable],
            ranked_by=rank_by if (rank_by != "correlation" or cs.correlation is not None) else "match_score",
            has_counterpart=has,
            source_dead=dead,
            matches=matches,
            match_ids=[m.target_feature for m in matches],
            counterpart_ids=[m.target_feature for m in matches if m.evidence.relation in LINKED_RELATIONS],
            evidence_record=None if best is None or dead else self.evidence_record(
                src.name, f, tgt.name, best.target_feature, best.evidence
            ),
            reading=self.report_reading(src, f, tgt, matches, has, dead),
            elapsed_ms=round((time.perf_counter() - t0) * 1000, 3),
        )

    def compare_features(self, model: str, source_feature: int, target_feature: int) -> ComparisonReport:
        """Two features side by side: shared and distinctive tokens, co-firing, every score."""
        t0 = time.perf_counter()
        src = self.model(model)
        tgt = self.pair.other(src.name)
        fs = self.check_feature(src, source_feature, "source_feature")
        ft = self.check_feature(tgt, target_feature, "target_feature")
        cs = self.candidate_scores(src, fs, np.array([ft]))
        ev = self.evidence(cs, 0)
        src_only = tgt_only = None
        if ev.cofire_count is not None:
            src_only = int(src.col_nnz[fs]) - ev.cofire_count
            tgt_only = int(tgt.col_nnz[ft]) - ev.cofire_count
        return ComparisonReport(
            source=self.describe_feature(src.name, fs),
            target=self.describe_feature(tgt.name, ft),
            direction=self.direction(src, tgt),
            evidence=ev,
            tokens=TokenComparison(
                shared_tokens=self.shared_tokens(src, fs, tgt, ft),
                source_only_tokens=self.only_tokens(src, fs, tgt, ft),
                target_only_tokens=self.only_tokens(tgt, ft, src, fs),
            ),
            source_only_fires=src_only,
            target_only_fires=tgt_only,
            n_aligned_examples=self.pair.n_aligned,
            evidence_record=self.evidence_record(src.name, fs, tgt.name, ft, ev),
            reading=self.match_reading(tgt.name, ft, ev),
            elapsed_ms=round((time.perf_counter() - t0) * 1000, 3),
        )

    def info(self) -> PairInfo:
        models = [
            ModelInfo(
                name=m.name,
                n_features=m.n_features,
                n_examples=m.n_examples,
                n_dead=int(m.dead.sum()),
                signals=[s for s in m.signals if s != "activations" or self.pair.has_activations],
                activation_space=m.activation_space,
                has_labels=bool(m.labels),
            )
            for m in self.pair.models
        ]
        return PairInfo(
            format_version=self.pair.format_version,
            models=models,
            vocab_size=len(self.pair.vocab),
            n_aligned_examples=self.pair.n_aligned,
            decoder_comparable=self.pair.decoder_comparable,
            description=self.pair.description,
        )

    # ---- readings ------------------------------------------------------------------------
    @staticmethod
    def match_reading(target_model: str, target: int, ev: PairEvidence) -> str:
        parts = [f"{target_model} {target}: calibrated band {ev.calibrated_band.value}"]
        parts.append(f"combined score {ev.combined_score:.2f} ({ev.score_band.value})")
        parts.append(f"token Jaccard {ev.jaccard:.2f} ({ev.overlap_band.value})")
        parts.append(f"weighted overlap {ev.weighted_overlap:.2f}")
        if ev.activation_correlation is not None:
            parts.append(f"correlation {ev.activation_correlation:.2f}")
            parts.append(
                f"fires on {ev.target_given_source:.0%} of the source's examples, "
                f"the source on {ev.source_given_target:.0%} of its"
            )
        meaning = {
            "same": "the same feature",
            "parent": "broader than the source (a parent)",
            "child": "a refinement of the source (a child)",
            "part-of-polysemantic": "one of the unrelated parts of a polysemantic narrow feature",
            "related": "related, neither contains the other",
            "none": "no relation above chance",
        }[ev.relation]
        text = f"{', '.join(parts)}: {meaning}."
        if ev.calibrated_band.value == "chance" and ev.overlap_band.value != "weak":
            text += (
                f" The original bands call the token overlap {ev.overlap_band.value}, but random "
                "candidates reach it too (shared tokens are common ones): treat it as chance."
            )
        return text

    @staticmethod
    def report_reading(
        src: ModelTables, f: int, tgt: ModelTables, matches: list[Match], has: bool, dead: bool
    ) -> str:
        if dead:
            return f"{src.name} {f} never fires in the data: no counterpart can be measured."
        if not matches:
            return f"No candidates in {tgt.name}."
        best = matches[0]
        if not has:
            return (
                f"No counterpart in {tgt.name}: no feature there contains it or lies inside it "
                f"(>= 60% of firings) above chance; the best-scoring candidate ({best.target_feature}) "
                f"is {best.evidence.calibrated_band.value}. This feature looks unique to {src.name}."
            )
        linked = [m.target_feature for m in matches if m.evidence.relation in LINKED_RELATIONS]
        extra = f" Counterparts among the top {len(matches)}: {linked[:8]}." if linked else ""
        return f"Best match: {best.reading}{extra}"
