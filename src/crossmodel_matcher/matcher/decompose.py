"""find_decomposition: which features of the wider model together make up a feature.

Narrow feature: greedy non-negative forward selection (non-negative OMP with an NNLS refit
at every step) of its full-stream activations on candidate wide features that lie mostly
inside it; parts are grouped into concepts by their distinctive tokens; the verdict follows
from R^2, containment and the number of concept groups. Wide feature: its parent(s) in the
narrow model, then the parent's own decomposition says whether it is a split or a mixture.
Without activations, parts are chosen by greedy coverage of the feature's token weights.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import nnls

from crossmodel_matcher.matcher.search import CandidateScores, CrossModelMatcher, MatcherInputError
from crossmodel_matcher.matcher.tables import ModelTables
from crossmodel_matcher.schemas import (
    DecompositionPart,
    DecompositionReport,
    EvidenceRecord,
    Signal,
    Verdict,
)

MAX_PARTS = 24
CANDIDATE_POOL = 64
PART_MIN_INSIDE = 0.5  # P(source fires | part fires): a part lies mostly inside the source
PART_MIN_GAIN = 0.01  # R^2 a part must add
PART_MIN_TOKEN_GAIN = 0.05  # token coverage a part must add (tokens only)
GROUP_MIN_OVERLAP = 0.2  # weighted token overlap that puts two parts in one concept group
MIN_EXPLAINED = 0.25  # below this R^2 (or token coverage) there is no counterpart
SAME_MIN_CONTAINMENT = 0.6  # both ways: one part is the feature itself
ONE_TO_ONE_MAX_REST = 0.1  # ...and the other parts together add less R^2 than this
PARENT_MIN_CONTAINMENT = 0.5  # P(parent fires | wide feature fires)


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


class Decomposer:
    """Decomposition queries over a matcher's pair."""

    def __init__(self, matcher: CrossModelMatcher):
        self.matcher = matcher
        self.pair = matcher.pair

    def find_decomposition(self, model: str, feature: int, max_parts: int = 12) -> DecompositionReport:
        t0 = time.perf_counter()
        m = self.matcher
        src = m.model(model)
        f = m.check_feature(src, feature)
        if isinstance(max_parts, bool) or not isinstance(max_parts, (int, np.integer)):
            raise MatcherInputError(f"max_parts must be an integer, got {max_parts!r}")
        if not 1 <= max_parts <= MAX_PARTS:
            raise MatcherInputError(f"max_parts={max_parts} is out of range: use 1..{MAX_PARTS}")
        tgt = self.pair.other(src.name)
        cs = m.candidate_scores(src, f)
        if src.n_features > tgt.n_features:
            report = self._parents(src, f, tgt, cs, max_parts)
        elif self.pair.has_activations:
            report = self._regress(src, f, tgt, cs, max_parts)
        else:
            report = self._cover_tokens(src, f, tgt, cs, max_parts)
        report.elapsed_ms = round((time.perf_counter() - t0) * 1000, 3)
        return report

    # ---- narrow feature, activations -------------------------------------------------------
    def _select(self, src: ModelTables, f: int, tgt: ModelTables, cs: CandidateScores, max_parts: int):
        """Greedy non-negative OMP; returns parts, R^2 after each, weights, pool size."""
        corr = cs.correlation
        inside = cs.source_given_target
        pool = np.flatnonzero((inside >= PART_MIN_INSIDE) & (corr > 0))
        pool = pool[np.argsort(-corr[pool], kind="stable")][:CANDIDATE_POOL]
        n = self.pair.n_aligned
        sst = float(src.col_sumsq[f] - src.col_sum[f] ** 2 / n) if n else 0.0
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
        verdict, reason = self._verdict(src, f, cs, parts, steps, n_groups, coverage)
        if verdict == "one_to_one" and parts:
            best = max(range(len(parts)), key=lambda i: cs.correlation[parts[i]])
            parts, weights, groups = [parts[best]], [weights[best]], [0]
            n_groups = 1
        return self._report(
            src, f, tgt, cs, parts, weights, groups, steps, r2, coverage, verdict, reason,
            method="greedy non-negative OMP with NNLS refit on full-stream activations",
            signals=["tokens", "activations"], n_pool=n_pool,
        )

    def _verdict(self, src, f, cs, parts, steps, n_groups, coverage) -> tuple[Verdict, str]:
        r2 = steps[-1] if steps else 0.0
        if src.dead[f]:
            return "no_counterpart", "the feature never fires in the data"
        if not parts or r2 < MIN_EXPLAINED:
            return "no_counterpart", (
                f"the best parts explain R^2={r2:.2f} of its activations (< {MIN_EXPLAINED}): "
                "nothing in the other model makes it up"
            )
        same = [
            i for i, p in enumerate(parts)
            if cs.target_given_source[p] >= SAME_MIN_CONTAINMENT
            and cs.source_given_target[p] >= SAME_MIN_CONTAINMENT
        ]
        rest_gain = r2 - steps[0] if steps else 0.0
        if len(parts) == 1 or (same and same[0] == 0 and rest_gain < ONE_TO_ONE_MAX_REST):
            p = parts[same[0] if same else 0]
            return "one_to_one", (
                f"one part covers it: fires on {cs.target_given_source[p]:.0%} of its examples, "
                f"{cs.source_given_target[p]:.0%} of the part's examples are its own, "
                f"correlation {cs.correlation[p]:.2f}; other parts add R^2 {rest_gain:.2f}"
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
        return self._report(
            src, f, tgt, cs, chosen, [0.0] * len(chosen), groups, [], None, prev, verdict,
            reason + " (tokens only: no activations loaded)",
            method="greedy coverage of lift-weighted tokens (no activations loaded)",
            signals=["tokens"], n_pool=len(pool),
        )

    # ---- wide feature: parents -----------------------------------------------------------------
    def _parents(self, src, f, tgt, cs, max_parts) -> DecompositionReport:
        if not self.pair.has_activations:
            order = np.argsort(-cs.weighted_overlap, kind="stable")[:max_parts]
            parents = [int(p) for p in order if cs.weighted_overlap[p] >= 0.25][:1]
            verdict: Verdict = "one_to_one" if parents else "no_counterpart"
            reason = "closest narrow feature by weighted token overlap (tokens only)"
            return self._report(
                src, f, tgt, cs, parents, [0.0] * len(parents), [0] * len(parents), [], None,
                0.0, verdict, reason, method="token overlap (no activations loaded)",
                signals=["tokens"], n_pool=tgt.n_features,
            )
        inside = cs.target_given_source  # P(parent fires | this feature fires)
        ok = np.flatnonzero((inside >= PARENT_MIN_CONTAINMENT) & (cs.correlation > 0.1))
        ok = ok[np.argsort(-(inside[ok] * cs.correlation[ok]), kind="stable")][:max_parts]
        parents = [int(p) for p in ok]
        if src.dead[f] or not parents:
            return self._report(
                src, f, tgt, cs, [], [], [], [], None, 0.0, "no_counterpart",
                "no narrow feature fires on at least half of its examples with positive correlation"
                if not src.dead[f] else "the feature never fires in the data",
                method="parents by directed containment", signals=["tokens", "activations"],
                n_pool=tgt.n_features,
            )
        best = parents[0]
        sub = self.find_decomposition(tgt.name, best, MAX_PARTS)
        if f in sub.part_ids:
            verdict = sub.verdict
            reason = f"{tgt.name} {best} contains it; that feature's own decomposition: {sub.verdict_reason}"
        elif cs.source_given_target[best] >= SAME_MIN_CONTAINMENT:
            verdict, reason = "one_to_one", f"{tgt.name} {best} and it contain each other"
        else:
            verdict = "split"
            reason = f"{tgt.name} {best} fires on {inside[best]:.0%} of its examples: it refines it"
        return self._report(
            src, f, tgt, cs, parents, [0.0] * len(parents), [0] * len(parents), [], None,
            _token_coverage(src.token_weights[f], tgt.token_weights[parents]), verdict, reason,
            method="parents by directed containment, then the parent's decomposition",
            signals=["tokens", "activations"], n_pool=tgt.n_features,
        )

    # ---- report --------------------------------------------------------------------------------
    def _report(
        self, src, f, tgt, cs, parts, weights, groups, steps, r2, coverage, verdict, reason,
        method: str, signals: list[Signal], n_pool: int,
    ) -> DecompositionReport:
        m = self.matcher
        out_parts = []
        for i, p in enumerate(parts):
            out_parts.append(
                DecompositionPart(
                    feature=p,
                    label=tgt.label(p),
                    weight=round(weights[i], 6),
                    explained_variance_after=round(steps[i], 6) if i < len(steps) else None,
                    group=groups[i] if i < len(groups) else 0,
                    evidence=m.evidence(cs, p),
                    distinctive_tokens=m.distinctive_tokens(tgt, p, 8),
                )
            )
        n_groups = len(set(groups)) if parts else 0
        ids = ", ".join(str(p) for p in parts[:12])
        what = "parents" if src.n_features > tgt.n_features else "parts"
        reading = f"{src.name} {f}: {verdict.replace('_', ' ')} - {reason}."
        if parts:
            reading += f" {tgt.name} {what}: [{ids}]."
        r2_text = "n/a" if r2 is None else f"{r2:.2f}"
        strength = "weak"
        if verdict != "no_counterpart":
            strength = "strong" if (r2 or coverage) >= 0.6 else "moderate" if (r2 or coverage) >= 0.3 else "weak"
        metrics = {"token_coverage": round(coverage, 6), "n_parts": float(len(parts)),
                   "n_groups": float(n_groups)}
        if r2 is not None:
            metrics["explained_variance"] = round(r2, 6)
        record = EvidenceRecord(
            summary=f"Cross-model decomposition of {src.name} {f} in {tgt.name}: {verdict}, "
            f"{len(parts)} {what} {parts[:12]}, R^2 {r2_text}, token coverage {coverage:.2f}",
            strength=strength,
            key_metrics=metrics,
        )
        return DecompositionReport(
            model=src.name,
            feature=f,
            label=src.label(f),
            other_model=tgt.name,
            direction=m.direction(src, tgt),
            method=method,
            signals_used=signals,
            verdict=verdict,
            verdict_reason=reason,
            explained_variance=None if r2 is None else round(r2, 6),
            explained_variance_steps=[round(s, 6) for s in steps],
            token_coverage=round(coverage, 6),
            n_groups=n_groups,
            n_candidates_tested=tgt.n_features,
            parts=out_parts,
            part_ids=list(parts),
            evidence_record=record,
            reading=reading,
            elapsed_ms=0.0,
        )
