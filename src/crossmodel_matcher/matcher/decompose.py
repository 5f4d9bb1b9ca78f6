"""find_decomposition: which features of the wider model together make up a feature.

Narrow feature: greedy non-negative forward selection (non-negative OMP with an NNLS refit
at every step) of its full-stream activations on candidate wide features that lie mostly
inside it; parts are grouped into concepts by their distinctive tokens; the verdict follows
from R^2, containment and the number of concept groups. Wide feature: its parent(s) in the
narrow model, then the parent's own decomposition says whether it is a split or a mixture.
Without activations, parts are chosen by greedy coverage of the feature's token weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crossmodel_matcher.errors import MatcherInputError
from crossmodel_matcher.matcher import readings
from crossmodel_matcher.matcher.candidates import CandidateScores, check_feature, direction, model_of
from crossmodel_matcher.matcher.refine import add_refinements, add_siblings, linked
from crossmodel_matcher.matcher.tokens import distinctive_tokens
from crossmodel_matcher.rules import (
    BRIEF_TOKENS,
    CANDIDATE_POOL,
    COUNTERPART_MIN_WEIGHTED_OVERLAP,
    DEFAULT_MAX_PARTS,
    GROUP_MIN_OVERLAP,
    MAX_PARTS,
    MIN_EXPLAINED,
    MIXTURE_MIN_REST,
    PART_MIN_GAIN,
    PART_MIN_INSIDE,
    PART_MIN_TOKEN_GAIN,
    check_range,
)
from crossmodel_matcher.schemas import DecompositionPart, DecompositionReport, PairEvidence, Signal, Verdict
from crossmodel_matcher.tables import ModelTables, PairTables

Scorer = Callable[[ModelTables, int], CandidateScores]
"""(source model, feature) -> scores against every candidate, with their p-values."""
EvidenceOf = Callable[[CandidateScores, int], PairEvidence]
"""(scores, candidate position) -> that candidate's evidence."""


@dataclass
class Found:
    """What a decomposition found, before it becomes a report."""

    parts: list[int]
    weights: list[float]
    groups: list[int]
    steps: list[float]
    r2: float | None
    coverage: float
    verdict: Verdict
    reason: str
    method: str
    signals: list[Signal]


def _groups(model: ModelTables, parts: list[int], source_weights: np.ndarray) -> list[int]:
    """Concept group of each part: connected components of weighted token overlap.

    Overlap is measured on the tokens the parts share with the source feature only, so two
    refinements of one concept meet on that concept's tokens while their own refining tokens
    (another weapon, another rung) do not push them apart.
    """
    n = len(parts)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    w = np.minimum(model.token_weights[parts].astype(np.float64), source_weights[None, :])
    for i in range(n):
        mins = np.minimum(w[i][None, :], w).sum(axis=1)
        maxs = np.maximum(w[i][None, :], w).sum(axis=1)
        sim = np.divide(mins, maxs, out=np.zeros(n), where=maxs > 0)
        for j in range(i + 1, n):
            if sim[j] >= GROUP_MIN_OVERLAP:
                parent[find(j)] = find(i)
    roots: dict[int, int] = {}
    return [roots.setdefault(find(i), len(roots)) for i in range(n)]


def _token_coverage(src_w: np.ndarray, part_w: np.ndarray) -> float:
    """Share of the source's token weight that the parts' weights cover."""
    total = float(src_w.sum())
    if total <= 0 or len(part_w) == 0:
        return 0.0
    return float(np.minimum(src_w, part_w.max(axis=0)).sum() / total)


def _parent_verdict(f, parent_model, best, sub, same, cs) -> tuple[Verdict, str, list[int]]:
    """A wide feature's verdict from its best parent's decomposition, and its siblings."""
    if f in sub.part_ids and (sub.verdict == "polysemantic" or (sub.verdict == "one_to_one" and not same)):
        return sub.verdict, (
            f"{parent_model} {best} contains it; that feature's own decomposition: {sub.verdict_reason}"
        ), []
    if same:
        return "one_to_one", f"{parent_model} {best} is the same feature (relation same)", []
    inside = float(cs.relations.masses(np.array([best]))[0][0])
    own = sub.refinement_ids + (sub.part_ids if sub.verdict == "split" else [])
    return "split", (
        f"{parent_model} {best} contains it ({inside:.0%} of its activation mass lies on that "
        "feature's examples): it refines it"
    ), [x for x in dict.fromkeys(own) if x != f]


class Decomposer:
    """Decomposition queries over a matcher's pair."""

    def __init__(self, pair: PairTables, score: Scorer, evidence: EvidenceOf):
        self.pair = pair
        self.score = score
        self.evidence = evidence

    def find_decomposition(
        self, model: str, feature: int, max_parts: int = DEFAULT_MAX_PARTS
    ) -> DecompositionReport:
        src = model_of(self.pair, model)
        f = check_feature(src, feature)
        check_range("max_parts", max_parts, 1, MAX_PARTS, MatcherInputError)
        tgt = self.pair.other(src.name)
        cs = self.score(src, f)
        if src.n_features > tgt.n_features:
            report = self._parents(src, f, tgt, cs, max_parts)
        elif self.pair.has_activations:
            report = self._regress(src, f, tgt, cs, max_parts)
        else:
            report = self._cover_tokens(src, f, tgt, cs, max_parts)
        return report

    # ---- narrow feature, activations -------------------------------------------------------
    def _select(self, src: ModelTables, f: int, tgt: ModelTables, cs: CandidateScores, max_parts: int):
        """Greedy non-negative OMP; returns parts, R^2 after each, weights, pool size."""
        corr = cs.correlation
        inside = cs.source_given_target
        pool = np.flatnonzero((inside >= PART_MIN_INSIDE) & (corr > 0))
        pool = pool[np.argsort(-corr[pool], kind="stable")][:CANDIDATE_POOL]
        n = self.pair.n_sampled  # the regression runs on the stored (sampled) examples
        sst = float(src.sample_sumsq[f] - src.sample_sum[f] ** 2 / n) if n else 0.0
        if len(pool) == 0 or sst <= 0:
            return [], [], [], len(pool)
        y_idx, y_val = src.column(f)
        cols = [tgt.column(int(j)) for j in pool]
        rows = np.unique(np.concatenate([y_idx] + [c[0] for c in cols]))
        y = np.zeros(len(rows))
        y[np.searchsorted(rows, y_idx)] = y_val
        x = np.zeros((len(rows), len(pool)))
        for k, (idx, val) in enumerate(cols):
            x[np.searchsorted(rows, idx), k] = val
        norms = np.linalg.norm(x, axis=0)
        chosen: list[int] = []
        steps: list[float] = []
        weights = np.zeros(0)
        residual = y.copy()
        prev = 0.0
        from scipy.optimize import nnls  # imported on first use: keeps the server start fast

        for _ in range(max_parts):
            score = (x.T @ residual) / np.where(norms > 0, norms, 1.0)
            score[chosen] = -np.inf
            k = int(np.argmax(score))
            if score[k] <= 0:
                break
            trial = chosen + [k]
            w, _ = nnls(x[:, trial], y)
            fit = x[:, trial] @ w
            r2 = 1.0 - float(((y - fit) ** 2).sum()) / sst
            if r2 - prev < PART_MIN_GAIN:
                break
            chosen, weights, residual, prev = trial, w, y - fit, r2
            steps.append(r2)
        keep = [i for i, w in enumerate(weights) if w > 0]
        parts = [int(pool[chosen[i]]) for i in keep]
        return parts, steps, [float(weights[i]) for i in keep], len(pool)

    def _regress(self, src, f, tgt, cs, max_parts) -> DecompositionReport:
        parts, steps, weights, n_pool = self._select(src, f, tgt, cs, max_parts)
        r2 = steps[-1] if steps else 0.0
        groups = _groups(tgt, parts, src.token_weights[f]) if parts else []
        coverage = _token_coverage(src.token_weights[f], tgt.token_weights[parts]) if parts else 0.0
        n_groups = len(set(groups))
        same, kids, _ = linked(cs)
        verdict, reason = self._verdict(src, f, cs, parts, steps, n_groups, coverage, same)
        if verdict == "one_to_one" and parts:
            best = same[0] if same else max(parts, key=lambda p: cs.correlation[p])
            weights = [weights[parts.index(best)] if best in parts else 0.0]
            parts, groups = [best], [0]
        report = self._report(src, f, tgt, cs, Found(
            parts, weights, groups, steps, r2, coverage, verdict, reason,
            "greedy non-negative OMP with NNLS refit on " + self._examples_text(), ["tokens", "activations"],
        ))
        if verdict in ("one_to_one", "split"):
            add_refinements(report, tgt, cs, [k for k in kids if k not in same])
        return report

    def _examples_text(self) -> str:
        p = self.pair
        if p.n_sample is None:
            return "full-stream activations"
        return (
            f"the activations of a hash-of-key sample of {p.n_sample:,} of the {p.n_aligned:,} aligned "
            "examples (containment and correlation: all of them)"
        )

    def _verdict(self, src, f, cs, parts, steps, n_groups, coverage, same) -> tuple[Verdict, str]:
        r2 = steps[-1] if steps else 0.0
        if src.dead[f]:
            return "no_counterpart", "the feature never fires in the data"
        if not same and (not parts or r2 < MIN_EXPLAINED):
            return "no_counterpart", (
                f"the best parts explain R^2={r2:.2f} of its activations (< {MIN_EXPLAINED}): "
                "nothing in the other model makes it up"
            )
        # Unrelated parts make a mixture only when they add to what a same counterpart explains.
        rest = r2 - float(cs.correlation[same[0]]) ** 2 if same else r2
        mixture = len(parts) > 1 and n_groups > 1 and r2 >= MIN_EXPLAINED and rest >= MIXTURE_MIN_REST
        if (same and not mixture) or len(parts) == 1:
            p = same[0] if same else parts[0]
            why = "relation same" if same else "the only part"
            return "one_to_one", (
                f"{why}: correlation {cs.correlation[p]:.2f}, it fires on "
                f"{cs.target_given_source[p]:.0%} of its examples and {cs.source_given_target[p]:.0%} "
                "of the part's examples are its own"
            )
        if n_groups == 1:
            return "split", (
                f"{len(parts)} parts explain R^2={r2:.2f}, each lies inside it and all share "
                f"distinctive tokens (one concept group; token coverage {coverage:.0%})"
            )
        return "polysemantic", (
            f"{len(parts)} parts explain R^2={r2:.2f} but fall into {n_groups} concept groups "
            f"with no shared distinctive tokens (token coverage {coverage:.0%})"
        )

    # ---- narrow feature, tokens only -----------------------------------------------------------
    def _cover_tokens(self, src, f, tgt, cs, max_parts) -> DecompositionReport:
        src_w = src.token_weights[f].astype(np.float64)
        pool = np.argsort(-cs.weighted_overlap, kind="stable")[:CANDIDATE_POOL]
        pool = pool[cs.weighted_overlap[pool] > 0]
        chosen: list[int] = []
        steps: list[float] = []
        covered = np.zeros_like(src_w)
        total = float(src_w.sum())
        prev = 0.0
        for _ in range(max_parts):
            if total <= 0 or len(pool) == 0:
                break
            cand = tgt.token_weights[pool].astype(np.float64)
            gain = (np.minimum(src_w, np.maximum(covered, cand)).sum(axis=1) / total) - prev
            # A part must itself look like the source, not merely add a stray token.
            gain[cs.weighted_overlap[pool] < GROUP_MIN_OVERLAP / 2] = -1
            gain[np.isin(pool, chosen)] = -1
            k = int(np.argmax(gain))
            if gain[k] < PART_MIN_TOKEN_GAIN:
                break
            chosen.append(int(pool[k]))
            covered = np.maximum(covered, cand[k])
            prev += float(gain[k])
            steps.append(prev)
        groups = _groups(tgt, chosen, src_w) if chosen else []
        n_groups = len(set(groups))
        if src.dead[f]:
            verdict, reason = "no_counterpart", "the feature never fires in the data"
        elif not chosen or prev < MIN_EXPLAINED:
            verdict, reason = "no_counterpart", f"token coverage {prev:.0%} is too low"
        elif len(chosen) == 1:
            verdict, reason = "one_to_one", f"one feature covers {prev:.0%} of its token weight"
        elif n_groups == 1:
            verdict, reason = "split", f"{len(chosen)} parts share tokens, coverage {prev:.0%}"
        else:
            verdict, reason = "polysemantic", f"{n_groups} unrelated token groups, coverage {prev:.0%}"
        return self._report(src, f, tgt, cs, Found(
            chosen, [0.0] * len(chosen), groups, [], None, prev, verdict,
            reason + " (tokens only: no activations loaded)",
            "greedy coverage of lift-weighted tokens (no activations loaded)", ["tokens"],
        ))

    # ---- wide feature: parents -----------------------------------------------------------------
    def _parents(self, src, f, tgt, cs, max_parts) -> DecompositionReport:
        if not self.pair.has_activations:
            order = np.argsort(-cs.weighted_overlap, kind="stable")[:max_parts]
            parents = [int(p) for p in order if cs.weighted_overlap[p] >= COUNTERPART_MIN_WEIGHTED_OVERLAP][:1]
            verdict: Verdict = "one_to_one" if parents else "no_counterpart"
            reason = "closest narrow feature by weighted token overlap (tokens only)"
            return self._report(src, f, tgt, cs, Found(
                parents, [0.0] * len(parents), [0] * len(parents), [], None, 0.0, verdict, reason,
                "token overlap (no activations loaded)", ["tokens"],
            ))
        same, _, containers = linked(cs)
        parents = (same + containers)[:max_parts]
        if src.dead[f] or not parents:
            return self._report(src, f, tgt, cs, Found(
                [], [], [], [], None, 0.0, "no_counterpart",
                "no narrow feature contains it or is the same feature (relation rule, above chance)"
                if not src.dead[f] else "the feature never fires in the data",
                "parents by the relation rule", ["tokens", "activations"],
            ))
        best = parents[0]
        sub = self.find_decomposition(tgt.name, best, MAX_PARTS)
        verdict, reason, siblings = _parent_verdict(f, tgt.name, best, sub, bool(same), cs)
        report = self._report(src, f, tgt, cs, Found(
            parents, [0.0] * len(parents), [0] * len(parents), [], None,
            _token_coverage(src.token_weights[f], tgt.token_weights[parents]), verdict, reason,
            "parents by the relation rule, then the parent's decomposition", ["tokens", "activations"],
        ))
        add_siblings(report, tgt, best, siblings)
        return report

    # ---- report --------------------------------------------------------------------------------
    def _report(
        self, src: ModelTables, f: int, tgt: ModelTables, cs: CandidateScores, found: Found
    ) -> DecompositionReport:
        parts, steps, groups, r2 = found.parts, found.steps, found.groups, found.r2
        out_parts = [
            DecompositionPart(
                feature=p,
                label=tgt.label(p),
                weight=round(found.weights[i], 6),
                explained_variance_after=round(steps[i], 6) if i < len(steps) else None,
                group=groups[i] if i < len(groups) else 0,
                evidence=self.evidence(cs, p),
                distinctive_tokens=distinctive_tokens(tgt, p, BRIEF_TOKENS),
            )
            for i, p in enumerate(parts)
        ]
        n_groups = len(set(groups)) if parts else 0
        wide = src.n_features > tgt.n_features  # then the found features are its parents
        return DecompositionReport(
            model=src.name,
            feature=f,
            label=src.label(f),
            other_model=tgt.name,
            direction=direction(src, tgt),
            method=found.method,
            signals_used=found.signals,
            verdict=found.verdict,
            verdict_reason=found.reason,
            explained_variance=None if r2 is None else round(r2, 6),
            explained_variance_steps=[round(s, 6) for s in steps],
            token_coverage=round(found.coverage, 6),
            n_groups=n_groups,
            n_candidates_tested=tgt.n_features,
            parts=[] if wide else out_parts,
            part_ids=[] if wide else list(parts),
            parents=out_parts if wide else [],
            parent_ids=list(parts) if wide else [],
            evidence_record=readings.decomposition_record(
                src, f, tgt, parts, n_groups, r2, found.coverage, found.verdict
            ),
            reading=readings.decomposition_reading(src, f, tgt, parts, found.verdict, found.reason),
        )
