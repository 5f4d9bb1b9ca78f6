"""A faithful re-implementation of the original SplatNLP matcher, for side-by-side benchmarks.

What it reproduces (see ../shared/reference/splatnlp-formats.md, "The original matcher"):
per candidate it re-reads the feature's rows, sorts them, keeps the top 10%, counts tokens
with a Counter (skipping `<...>`), keeps the 50 most common, computes set Jaccard in Python;
if Jaccard > 0.05 it correlates max activation per build key over builds present in both
features' rows (>= 30 shared, else 0); combined = 0.4 j + 0.6 corr if corr > 0 else j;
candidates are `random.sample` of n_candidates with seed 42. The bug that made the
original read an empty token field is NOT reproduced: this baseline gets real token sets.
Data access is an in-memory dict, which is faster than the original's database reads.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np


class OriginalMatcher:
    def __init__(self, rows_by_model: dict[str, dict[int, list[dict]]], n_features: dict[str, int]):
        self.rows = rows_by_model  # model -> feature -> [{"activation", "tokens", "key"}]
        self.n_features = n_features

    def _get_top_tokens(self, model: str, feature: int, top_n: int = 50) -> set[str]:
        data = self.rows[model].get(feature, [])[:1000]
        if not data:
            return set()
        data = sorted(data, key=lambda x: x.get("activation", 0), reverse=True)
        top = data[: max(1, len(data) // 10)]
        counter: Counter = Counter()
        for row in top:
            for t in row["tokens"]:
                if t and not t.startswith("<"):
                    counter[t] += 1
        return {tok for tok, _ in counter.most_common(top_n)}

    def _correlation(self, src_model: str, fs: int, tgt_model: str, ft: int) -> float:
        a: dict[str, float] = {}
        for r in self.rows[src_model].get(fs, []):
            a[r["key"]] = max(a.get(r["key"], 0.0), r["activation"])
        b: dict[str, float] = {}
        for r in self.rows[tgt_model].get(ft, []):
            b[r["key"]] = max(b.get(r["key"], 0.0), r["activation"])
        shared = [k for k in a if k in b]
        if len(shared) < 30:
            return 0.0
        x = np.array([a[k] for k in shared])
        y = np.array([b[k] for k in shared])
        if x.std() == 0 or y.std() == 0:
            return 0.0
        return float(np.corrcoef(x, y)[0, 1])

    def find_matches(self, src_model: str, tgt_model: str, feature: int, n_candidates: int = 500,
                     n_top: int = 10) -> list[tuple[int, float]]:
        source = self._get_top_tokens(src_model, feature)
        if not source:
            return []
        targets = list(range(self.n_features[tgt_model]))
        if len(targets) > n_candidates:
            random.seed(42)
            targets = random.sample(targets, n_candidates)
        scored = []
        for t in targets:
            tgt = self._get_top_tokens(tgt_model, t)
            if not tgt:
                continue
            union = source | tgt
            j = len(source & tgt) / len(union) if union else 0.0
            corr = self._correlation(src_model, feature, tgt_model, t) if j > 0.05 else 0.0
            combined = 0.4 * j + 0.6 * corr if corr > 0 else j
            if combined > 0:
                scored.append((t, combined))
        scored.sort(key=lambda x: -x[1])
        return scored[:n_top]
