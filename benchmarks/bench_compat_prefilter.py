"""How `FeatureMatcher.find_matches(n_candidates=N)` chooses candidates, against the truth.

For every planted one-to-one pair of the demo pair (truth.json), in both directions, recall@1
of the true counterpart for:
  exhaustive   find_matches()                         every target feature scored
  prefilter    find_matches(n_candidates=N)           N chosen by co-firing, then scored
  random       the original: random.seed(42); random.sample(all ids, N), same core scores
under the default ranking (match_score) and the original's (combined_score). Also: how often
the true counterpart is among the scored candidates, time per call, and how often the seed's
prose rule ("more than 3 matches with combined_score > 0.1 means polysemantic") fires on
each planted role of the narrow model.

    python benchmarks/bench_compat_prefilter.py [--n-candidates 500] [--pair DIR] [--json PATH]

Exits 1 when the pre-filter's recall@1 is more than 0.02 below the exhaustive search's.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from crossmodel_matcher.compat import FeatureMatcher, load_context
from crossmodel_matcher.demo import ensure_demo_pair, load_truth

MAX_GAP = 0.02
RANKINGS = ("match_score", "combined_score")


def original_sample(n_target: int, n_candidates: int) -> np.ndarray:
    """The original's candidates: seed 42 reset per query, so one fixed sample for all."""
    random.seed(42)
    return np.array(sorted(random.sample(list(range(n_target)), n_candidates)))


def top1_among(fm: FeatureMatcher, feature: int, ids: np.ndarray, rank_by: str) -> int | None:
    """Best of `ids` by the core's scores, with find_matches' rules (combined > 0, id ties)."""
    cs = fm.score_candidates(feature, ids)
    key = cs.ranking(rank_by)
    ok = np.flatnonzero(cs.combined > 0)
    if len(ok) == 0:
        return None
    return int(ids[ok[np.lexsort((ids[ok], -key[ok]))[0]]])


def run_direction(fm: FeatureMatcher, pairs: list[tuple[int, int]], n_candidates: int) -> dict:
    n_target = fm.target_ctx.n_features
    sample = original_sample(n_target, n_candidates)
    in_sample = set(sample.tolist())
    hits: dict[str, Counter] = defaultdict(Counter)
    covered: Counter = Counter()
    ms: dict[str, list[float]] = defaultdict(list)
    for source, true in pairs:
        for rank_by in RANKINGS:
            t0 = time.perf_counter()
            ex = fm.find_matches(source, n_top_matches=1, rank_by=rank_by)
            ms[f"exhaustive/{rank_by}"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            pre = fm.find_matches(source, n_candidates=n_candidates, n_top_matches=1, rank_by=rank_by)
            ms[f"prefilter/{rank_by}"].append((time.perf_counter() - t0) * 1000)
            hits["exhaustive"][rank_by] += bool(ex.matches) and ex.matches[0].target_feature == true
            hits["prefilter"][rank_by] += bool(pre.matches) and pre.matches[0].target_feature == true
            hits["random"][rank_by] += top1_among(fm, source, sample, rank_by) == true
        ids, _ = fm.prefilter(source, n_candidates)
        covered["prefilter"] += true in set(ids.tolist())
        covered["random"] += true in in_sample
        covered["exhaustive"] += 1
    n = len(pairs)
    methods = ("exhaustive", "prefilter", "random")
    return {
        "source_model": fm.source_ctx.model_type,
        "target_model": fm.target_ctx.model_type,
        "n_target_features": n_target,
        "n_queries": n,
        "n_candidates": n_candidates,
        "expected_random_coverage": n_candidates / n_target,
        "recall_at_1": {m: {r: hits[m][r] / n for r in RANKINGS} for m in methods},
        "true_counterpart_scored": {m: covered[m] / n for m in methods},
        "ms_per_call_median": {k: round(statistics.median(v), 3) for k, v in ms.items()},
    }


def prose_rule(fm: FeatureMatcher, truth_rows: list[dict]) -> dict:
    """Share of each planted role the seed's ">3 matches with combined > 0.1" rule flags."""
    flagged: Counter = Counter()
    total: Counter = Counter()
    for row in truth_rows:
        report = fm.find_matches(row["feature"])
        total[row["role"]] += 1
        flagged[row["role"]] += len([m for m in report.matches if m.combined_score > 0.1]) > 3
    return {role: {"n": total[role], "flagged": flagged[role] / total[role]} for role in sorted(total)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-candidates", type=int, default=500)
    ap.add_argument("--pair", default=None, help="demo pair directory (default: built/cached demo)")
    ap.add_argument("--json", metavar="PATH", default=None, help="write the results as JSON")
    args = ap.parse_args(argv)

    pair = Path(args.pair) if args.pair else ensure_demo_pair()
    truth = load_truth(pair)
    one_to_one = [(r["feature"], r["counterparts"][0]) for r in truth["full"] if r["role"] == "one_to_one"]
    t0 = time.perf_counter()
    full, ultra = load_context("full", pair), load_context("ultra", pair)
    load_s = time.perf_counter() - t0
    directions = [
        run_direction(FeatureMatcher(full), one_to_one, args.n_candidates),
        run_direction(FeatureMatcher(ultra), [(u, f) for f, u in one_to_one], args.n_candidates),
    ]
    rule = prose_rule(FeatureMatcher(full), truth["full"])

    print(f"Demo pair {pair} (loaded in {load_s:.2f} s); planted one-to-one pairs: {len(one_to_one)}")
    print(f"recall@1 of the true counterpart, n_candidates={args.n_candidates}")
    head = f"{'direction':<15} {'ranking':<15} {'exhaustive':>10} {'prefilter':>10} {'random':>8}"
    print(head)
    print("-" * len(head))
    failed = False
    for d in directions:
        name = f"{d['source_model']}->{d['target_model']}"
        for r in RANKINGS:
            rec = d["recall_at_1"]
            print(f"{name:<15} {r:<15} {rec['exhaustive'][r]:>10.3f} {rec['prefilter'][r]:>10.3f} "
                  f"{rec['random'][r]:>8.3f}")
            failed |= rec["exhaustive"][r] - rec["prefilter"][r] > MAX_GAP
    print("\ntrue counterpart among the scored candidates (random expected: n_candidates / n_target)")
    for d in directions:
        cov = d["true_counterpart_scored"]
        name = f"{d['source_model']}->{d['target_model']}"
        print(f"{name:<15} prefilter {cov['prefilter']:.3f}   random "
              f"{cov['random']:.3f} (expected {d['expected_random_coverage']:.3f} of "
              f"{d['n_target_features']})")
    print("\nmedian ms per find_matches call")
    for d in directions:
        t = d["ms_per_call_median"]
        name = f"{d['source_model']}->{d['target_model']}"
        print(f"{name:<15} exhaustive {t['exhaustive/match_score']:.2f}   "
              f"prefilter {t['prefilter/match_score']:.2f}")
    print("\nseed prose rule (>3 of the top 10 with combined_score > 0.1) on full features, by role")
    for role, v in rule.items():
        print(f"  {role:<13} n={v['n']:<4} flagged {v['flagged']:.3f}")
    gaps = [d["recall_at_1"]["exhaustive"][r] - d["recall_at_1"]["prefilter"][r]
            for d in directions for r in RANKINGS]
    print(f"\nlargest recall@1 gap exhaustive - prefilter: {max(gaps):.3f} (allowed {MAX_GAP})")
    if args.json:
        out = {"pair": str(pair), "load_s": load_s, "directions": directions, "prose_rule": rule,
               "max_gap": max(gaps), "allowed_gap": MAX_GAP}
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
