"""How far the evidence can be trusted on the demo pair: calibrated band, relations, unique lists.

- false "strong" rate over random non-corresponding pairs: calibrated band vs the original
  token-overlap band (Jaccard > 0.3), and recall of planted one-to-one pairs called `same`
  (calibrated) vs called strong by the original band;
- relation accuracy of the best match of every live narrow feature and of a sample of wide
  features, with the confusion table;
- precision/recall of the unique-feature listing on each side against the planted truth;
- time to build the null model and the alignment summary, and what the null adds to a
  find_matches call (same run, with and without the best-of-N test).

    python benchmarks/bench_evidence.py [--json PATH] [--pairs 5000] [--wide-sample 1500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from crossmodel_matcher.demo import ensure_demo_pair, load_truth
from crossmodel_matcher.matcher.alignment import compute_alignment
from crossmodel_matcher.matcher.null import NullModel
from crossmodel_matcher.pair_source import open_pair
from crossmodel_matcher.rules import MAX_UNIQUE_LIMIT

NARROW_EXPECT = {"one_to_one": "same", "split": "child", "polysemantic": "part-of-polysemantic",
                 "unique": "none"}
WIDE_EXPECT = {"one_to_one": "same", "child": "parent", "component": "part-of-polysemantic",
               "unique": "none"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--pairs", type=int, default=5000, help="random non-corresponding pairs")
    ap.add_argument("--wide-sample", type=int, default=1500, help="wide features for relations")
    args = ap.parse_args()
    rng = np.random.default_rng(3)
    pair_dir = ensure_demo_pair()
    m = open_pair(pair_dir)
    truth = load_truth(pair_dir)
    full, ultra = truth["full"], truth["ultra"]
    related = {(t["feature"], u) for t in full for u in t["counterparts"]}
    out: dict = {}

    # 1. Bands on random non-corresponding pairs and on planted one-to-one pairs.
    strong_cal = strong_orig = n = 0
    while n < args.pairs:
        f, u = int(rng.integers(len(full))), int(rng.integers(len(ultra)))
        if (f, u) in related:
            continue
        ev = m.compare_features("full", f, u).evidence
        strong_cal += ev.calibrated_band.value == "strong"
        strong_orig += ev.overlap_band.value == "strong"
        n += 1
    out["false strong rate, calibrated band"] = strong_cal / n
    out["false strong rate, original band (Jaccard > 0.3)"] = strong_orig / n
    ones = [(t["feature"], t["counterparts"][0]) for t in full if t["role"] == "one_to_one"]
    evs = [m.compare_features("full", f, u).evidence for f, u in ones]
    out["one-to-one called same (calibrated relation)"] = float(np.mean([e.relation == "same" for e in evs]))
    out["one-to-one called strong (calibrated band)"] = float(
        np.mean([e.calibrated_band.value == "strong" for e in evs]))
    out["one-to-one called strong (original band)"] = float(np.mean([e.overlap_band.value == "strong" for e in evs]))

    # 2. Relation of the best match.
    confusion: Counter = Counter()
    ok = []
    for t in full:
        if t["role"] == "dead":
            continue
        rep = m.find_matches("full", t["feature"], 5)
        best = rep.matches[0].evidence.relation if rep.has_counterpart else "none"
        confusion[("full " + t["role"], best)] += 1
        ok.append(best == NARROW_EXPECT[t["role"]])
    wide_ok = []
    live_wide = [t for t in ultra if t["role"] != "dead"]
    for i in rng.choice(len(live_wide), size=min(args.wide_sample, len(live_wide)), replace=False):
        t = live_wide[i]
        rep = m.find_matches("ultra", t["feature"], 5)
        best = rep.matches[0].evidence.relation if rep.has_counterpart else "none"
        confusion[("ultra " + t["role"], best)] += 1
        wide_ok.append(best == WIDE_EXPECT[t["role"]])
    out["relation accuracy (full, all live)"] = float(np.mean(ok))
    out["relation accuracy (ultra, sample)"] = float(np.mean(wide_ok))
    out["relation accuracy (both)"] = float(np.mean(ok + wide_ok))

    # 3. Unique-feature listing against the truth.
    for side in ("full", "ultra"):
        page = m.list_unique_features(side, 0, MAX_UNIQUE_LIMIT)
        listed = set(page.feature_ids)
        while page.next_offset is not None:
            page = m.list_unique_features(side, page.next_offset, MAX_UNIQUE_LIMIT)
            listed |= set(page.feature_ids)
        true = {t["feature"] for t in truth[side] if t["role"] == "unique"}
        tp = len(listed & true)
        out[f"unique listing precision ({side})"] = tp / max(1, len(listed))
        out[f"unique listing recall ({side})"] = tp / max(1, len(true))

    # 4. Build cost of the null model and alignment, and the null's cost per query.
    t0 = time.perf_counter()
    NullModel(m.pair)
    out["null model build s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    compute_alignment(m.pair, m.find_decomposition, progress=False)
    out["alignment build s"] = time.perf_counter() - t0

    def p50(fn) -> float:
        times = []
        for i in range(300):
            t = time.perf_counter()
            fn(i)
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    query = lambda i: m.find_matches("full", (i * 7) % 2048, 10)  # noqa: E731
    with_null = p50(query)
    real = m.null.chance_p
    m.null.chance_p = lambda source, feature, cs, idx=None: np.zeros(len(cs.match) if idx is None else len(idx))
    without = p50(query)
    m.null.chance_p = real
    out["find_matches p50 ms with null"] = with_null
    out["find_matches p50 ms without null"] = without
    out["null adds ms per find_matches"] = with_null - without

    print(f"\nEvidence quality on the demo pair ({pair_dir.name})")
    for k, v in out.items():
        print(f"  {k:55s} {v:8.3f}")
    print("\nrelation of the best match (truth role -> relation):")
    for (role, rel), c in sorted(confusion.items()):
        print(f"  {role:22s} -> {rel:22s} {c:6d}")
    if args.json:
        out["confusion"] = {f"{a} -> {b}": c for (a, b), c in sorted(confusion.items())}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
