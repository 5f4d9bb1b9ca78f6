"""The matcher façade: one object per loaded pair, holding the null model, the alignment and
the decomposer, and answering every query. Each part gets what it needs at construction;
nothing is set later and nothing calls back into the façade."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from crossmodel_matcher.errors import MatcherInputError
from crossmodel_matcher.matcher import pool_masses, readings, shortlists, tokens, unique
from crossmodel_matcher.matcher import relations as rel
from crossmodel_matcher.matcher.alignment import Alignment, load_or_build
from crossmodel_matcher.matcher.candidates import (
    CandidateScores,
    check_feature,
    direction,
    model_of,
    score_candidates,
)
from crossmodel_matcher.matcher.decompose import Decomposer
from crossmodel_matcher.matcher.evidence import Polysemantic, has_counterpart, pair_evidence
from crossmodel_matcher.matcher.null import CACHE_NAME as NULL_CACHE
from crossmodel_matcher.matcher.null import NullModel
from crossmodel_matcher.matcher.shortlists import Shortlists
from crossmodel_matcher.rules import (
    CHANCE_ALPHA,
    DEFAULT_MAX_PARTS,
    DEFAULT_N_TOKENS,
    DEFAULT_TOP_N,
    DEFAULT_UNIQUE_LIMIT,
    LINKED_RELATIONS,
    MATCH_SHARED_TOKENS,
    MAX_BATCH,
    MAX_TOP_N,
    RANK_KEYS,
    check_range,
)
from crossmodel_matcher.schemas import (
    AlignmentSummary,
    ComparisonReport,
    DecompositionReport,
    FeatureSummary,
    Match,
    MatchReport,
    ModelInfo,
    PairEvidence,
    PairInfo,
    TokenComparison,
    UniqueFeaturesPage,
)
from crossmodel_matcher.tables import ModelTables, PairTables


class Matcher:
    """find_matches, compare_features, find_decomposition, describe_feature and the pair-wide
    queries over one loaded pair; holds no per-query state."""

    def __init__(self, pair: PairTables, pair_dir: str | Path | None = None, progress: bool = False):
        self.pair = pair
        where = None if pair_dir is None else Path(pair_dir)
        self.null = NullModel(pair, None if where is None else where / NULL_CACHE)
        self.pools = pool_masses.load_or_build(pair, where, progress)
        # The alignment is built from decompositions whose verdicts need no alignment; the
        # decomposer that answers queries then reads it (polysemantic parts).
        plain = Decomposer(pair, self.candidate_scores, partial(self._evidence, polysemantic=None))
        self.alignment: Alignment = load_or_build(pair, where, plain.find_decomposition, progress)
        self._decomposer = Decomposer(pair, self.candidate_scores, self.evidence)
        self.shortlists: Shortlists = shortlists.load_or_build(pair, where)

    def _pool(self, model: str, feature: int) -> np.ndarray:
        """The relation pool of a feature (relate.pool_ids), target ids, from the pair's cache."""
        return self.pools.pool(model, feature)

    # ---- the pieces every query shares ----------------------------------------------------
    def model(self, name: str) -> ModelTables:
        return model_of(self.pair, name)

    def check_feature(self, model: ModelTables, feature: int, arg: str = "feature") -> int:
        return check_feature(model, feature, arg)

    def candidate_scores(
        self, source: ModelTables, feature: int, targets: np.ndarray | None = None
    ) -> CandidateScores:
        """Every signal of `feature` against the other model's candidates (all, or `targets`),
        with the null attached: each candidate's best-of-N p-value is computed once, when needed."""
        known = self.pools.known(source.name, feature) if self.pair.has_activations else None
        cs = score_candidates(self.pair, source, feature, targets, known)
        cs.attach_null(partial(self.null.chance_p, source, feature, cs))
        return cs

    def evidence(self, cs: CandidateScores, idx: int) -> PairEvidence:
        """Evidence of candidate position `idx`, with its null percentile and relation."""
        return self._evidence(cs, idx, self.alignment.in_polysemantic)

    def _evidence(self, cs: CandidateScores, idx: int, polysemantic: Polysemantic | None) -> PairEvidence:
        return pair_evidence(self.pair, self.null, cs, idx, polysemantic)

    def has_counterpart(self, source: ModelTables, feature: int, cs: CandidateScores) -> bool:
        return has_counterpart(source, feature, cs)

    shared_tokens = staticmethod(tokens.shared_tokens)
    match_reading = staticmethod(readings.match_reading)
    report_reading = staticmethod(readings.report_reading)

    # ---- queries ------------------------------------------------------------------------------
    def describe_feature(self, model: str, feature: int, n_tokens: int = DEFAULT_N_TOKENS) -> FeatureSummary:
        m = self.model(model)
        f = check_feature(m, feature)
        return FeatureSummary(
            model=m.name,
            feature=f,
            label=m.label(f),
            dead=bool(m.dead[f]),
            firing_rate=round(float(m.fire_count[f]) / max(1, m.n_examples), 6),
            fire_count=int(m.fire_count[f]),
            max_activation=round(float(m.max_activation[f]), 6),
            mean_activation=round(float(m.mean_activation[f]), 6),
            top_tokens=tokens.top_tokens(m, f, n_tokens),
            distinctive_tokens=tokens.distinctive_tokens(m, f, n_tokens),
        )

    def find_matches(
        self, model: str, feature: int, top_n: int = DEFAULT_TOP_N, rank_by: str = "match_score"
    ) -> MatchReport:
        """Rank every feature of the other model as a counterpart of (model, feature)."""
        src = self.model(model)
        f = check_feature(src, feature)
        check_range("top_n", top_n, 1, MAX_TOP_N, MatcherInputError)
        if rank_by not in RANK_KEYS:
            raise MatcherInputError(f"rank_by={rank_by!r} is not one of {', '.join(RANK_KEYS)}")
        tgt = self.pair.other(src.name)
        pool = self._pool(src.name, f) if self.pair.has_activations else None
        cs, order = shortlists.ranked(
            self.pair, self.shortlists, self.candidate_scores, src, f, rank_by, top_n, also=pool
        )
        if self.pair.has_activations:
            cs, order = self._counterparts_first(src, f, cs, order, rank_by, top_n)
        matches = self._ranked(src, f, tgt, cs, order)
        dead = bool(src.dead[f])
        if self.pair.has_activations:  # over every candidate: cached with the alignment
            has = bool(self.alignment.has_counterpart[src.name][f])
        else:  # tokens only: the best weighted overlap decides, and it heads every ranking
            has = has_counterpart(src, f, cs)
        signals = src.signals if self.pair.has_activations else ["tokens"]
        best = matches[0] if matches else None
        return MatchReport(
            source_model=src.name,
            source_feature=f,
            source_label=src.label(f),
            target_model=tgt.name,
            direction=direction(src, tgt),
            n_candidates_tested=tgt.n_features,
            signals_used=[s for s in signals if s != "decoder" or self.pair.decoder_comparable],
            ranked_by=rank_by if (rank_by != "activation_correlation" or cs.correlation is not None) else "match_score",
            has_counterpart=has,
            source_dead=dead,
            matches=matches,
            match_ids=[m.target_feature for m in matches],
            counterpart_ids=[m.target_feature for m in matches if m.evidence.relation in LINKED_RELATIONS],
            evidence_record=None if best is None or dead else readings.evidence_record(
                src.name, f, tgt.name, best.target_feature, best.evidence
            ),
            reading=readings.report_reading(src, f, tgt, matches, has, dead),
        )

    def _counterparts_first(
        self, src: ModelTables, f: int, cs: CandidateScores, order: np.ndarray, rank_by: str, top_n: int
    ) -> tuple[CandidateScores, np.ndarray]:
        """Scores of the ranked candidates and of the relation pool (relate.pool_ids), and the
        top_n positions: counterparts first (same, then parent, child or part-of-polysemantic),
        each group by `rank_by` (ties: lower id)."""
        ids = np.union1d([cs.target_id(int(i)) for i in order], self._pool(src.name, f))
        pos = _positions(cs, ids)
        if pos is None:  # not all scored yet: score these (every signal is per candidate)
            cs, pos = self.candidate_scores(src, f, ids), np.arange(len(ids))
        key = cs.ranking(rank_by)[pos]
        p = cs.p_values(pos)
        codes = cs.relations.codes(pos, p)
        tier = np.where(codes == rel.SAME, 0, np.where(np.isin(codes, (rel.PARENT, rel.CHILD)), 1, 2))
        if not src.dead[f]:
            poly = np.array([self.alignment.in_polysemantic(src.name, f, int(t)) for t in ids], dtype=bool)
            tier = np.where(poly & (p < CHANCE_ALPHA), 1, tier)
        return cs, pos[np.lexsort((ids, -key, tier))[:top_n]]

    def _ranked(
        self, src: ModelTables, f: int, tgt: ModelTables, cs: CandidateScores, order: np.ndarray
    ) -> list[Match]:
        """The candidates at positions `order` of `cs`, in that order, each with its evidence."""
        cs.p_values(order)  # their best-of-N p-values in one batch (each evidence reads its own)
        if cs.relations is not None:
            cs.relations.codes(order)  # and their relations (each evidence reads its own)
        ids = [cs.target_id(idx) for idx in order.tolist()]
        shared = tokens.shared_tokens_many(src, f, tgt, ids, limit=MATCH_SHARED_TOKENS)
        matches = []
        for rank, (idx, t, sh) in enumerate(zip(order.tolist(), ids, shared), start=1):
            ev = self.evidence(cs, idx)
            matches.append(
                Match(
                    rank=rank,
                    target_feature=t,
                    target_label=tgt.label(t),
                    evidence=ev,
                    shared_tokens=sh,
                    reading=readings.match_reading(tgt.name, t, ev),
                )
            )
        return matches

    def compare_features(self, model: str, source_feature: int, target_feature: int) -> ComparisonReport:
        """Two features side by side: shared and distinctive tokens, co-firing, every score."""
        src = self.model(model)
        tgt = self.pair.other(src.name)
        fs = check_feature(src, source_feature, "source_feature")
        ft = check_feature(tgt, target_feature, "target_feature")
        cs = self.candidate_scores(src, fs, np.array([ft]))
        ev = self.evidence(cs, 0)
        src_only = tgt_only = None
        if ev.cofire_count is not None:
            src_only = int(src.col_nnz[fs]) - ev.cofire_count
            tgt_only = int(tgt.col_nnz[ft]) - ev.cofire_count
        return ComparisonReport(
            source=self.describe_feature(src.name, fs),
            target=self.describe_feature(tgt.name, ft),
            direction=direction(src, tgt),
            evidence=ev,
            tokens=TokenComparison(
                shared_tokens=tokens.shared_tokens(src, fs, tgt, ft),
                source_only_tokens=tokens.only_tokens(src, fs, tgt, ft),
                target_only_tokens=tokens.only_tokens(tgt, ft, src, fs),
            ),
            source_only_fires=src_only,
            target_only_fires=tgt_only,
            n_aligned_examples=self.pair.n_aligned,
            evidence_record=readings.evidence_record(src.name, fs, tgt.name, ft, ev),
            reading=readings.match_reading(tgt.name, ft, ev),
        )

    def find_decomposition(
        self, model: str, feature: int, max_parts: int = DEFAULT_MAX_PARTS
    ) -> DecompositionReport:
        """Which features of the other model together make up (model, feature)."""
        return self._decomposer.find_decomposition(model, feature, max_parts)

    # ---- the whole pair -------------------------------------------------------------------------
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

    def alignment_summary(self) -> AlignmentSummary:
        """Model-wide alignment: counterparts per side, split sizes, mixtures, unique features."""
        return self.alignment.summary()

    def list_unique_features(
        self, model: str, offset: int = 0, limit: int = DEFAULT_UNIQUE_LIMIT, near_feature: int | None = None,
        near_model: str | None = None, token: str | None = None, relation: str | None = None,
    ) -> UniqueFeaturesPage:
        """Live features of `model` with no counterpart above chance in the other model; filters:
        near a feature of the other model, by distinctive token, by relation to the near feature."""
        return unique.list_unique_features(
            self, model, offset, limit, near_feature, near_model, token, relation
        )

    def compare_many(
        self, model: str, source_feature: int, target_feature: int | None = None,
        target_features: list[int] | None = None,
    ) -> ComparisonReport | list[ComparisonReport]:
        """compare_features for one target feature, or for a list of them (one report each)."""
        if (target_feature is None) == (target_features is None):
            raise MatcherInputError(
                "give exactly one of target_feature (one feature of the other model) and "
                f"target_features (a list of 1..{MAX_BATCH})"
            )
        if target_features is None:
            return self.compare_features(model, source_feature, target_feature)
        if not 1 <= len(target_features) <= MAX_BATCH:
            raise MatcherInputError(f"target_features lists {len(target_features)} ids: use 1..{MAX_BATCH}")
        return [self.compare_features(model, source_feature, t) for t in target_features]


__all__ = ["Matcher"]


def _positions(cs: CandidateScores, ids: np.ndarray) -> np.ndarray | None:
    """Positions of target ids `ids` in `cs`, or None where `cs` did not score them all."""
    if cs.target_ids is None:  # every candidate: position i is feature i
        return ids.astype(np.int64)
    at = np.minimum(np.searchsorted(cs.target_ids, ids), len(cs.target_ids) - 1)
    if len(cs.target_ids) and bool(np.all(np.diff(cs.target_ids) > 0)) and np.array_equal(cs.target_ids[at], ids):
        return at
    return None
