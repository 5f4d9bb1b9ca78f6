"""Quality and speed of the matcher core on the demo pair, beside the original method.

Quality is measured against the planted truth (truth.json): recall@1/@5 of one-to-one
counterparts in both directions, decomposition part precision/recall on splits and on
polysemantic features, verdict accuracy, precision/recall of "no counterpart". Speed: p50/p95
of each call, load time, peak RSS. The original method (benchmarks/baseline_original.py) runs
on a sample of the same queries in the same run, and the ratios are printed.

    python benchmarks/bench_core.py [--json PATH] [--baseline-queries 60] [--queries 400]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_original import OriginalMatcher  # noqa: E402

from crossmodel_matcher.demo import DEMO_SEED, ensure_demo_pair, generate, load_truth  # noqa: E402
from crossmodel_matcher.matcher import Matcher  # noqa: E402
from crossmodel_matcher.pair_source import open_pair
from crossmodel_matcher.store.derive import top_examples_from_activations  # noqa: E402

EXPECTED_VERDICT = {
    "one_to_one": "one_to_one",
    "split": "split",
    "polysemantic": "polysemantic",
    "unique": "no_counterpart",
    "dead": "no_counterpart",
}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def timed(fn, *args) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1000


def prf(pred: set, true: set) -> tuple[float, float]:
    tp = len(pred & true)
    return (tp / len(pred) if pred else 0.0), (tp / len(true) if true else 1.0)


def evaluate_core(m: Matcher, truth: dict, n_queries: int, rng: np.random.Generator) -> dict:
    full, ultra = truth["full"], truth["ultra"]
    out: dict = {"timings_ms": {}}
    t = out["timings_ms"]

    # One-to-one recall, both directions.
    pairs = [(f["feature"], f["counterparts"][0]) for f in full if f["role"] == "one_to_one"]
    for direction, src, tgt_of in (
        ("full->ultra", "full", lambda p: (p[0], p[1])),
        ("ultra->full", "ultra", lambda p: (p[1], p[0])),
    ):
        hits1 = hits5 = 0
        times = []
        for p in pairs:
            q, want = tgt_of(p)
            rep, ms = timed(m.find_matches, src, q, 10)
            times.append(ms)
            hits1 += rep.match_ids[0] == want
            hits5 += want in rep.match_ids[:5]
        out[f"recall@1 {direction}"] = hits1 / len(pairs)
        out[f"recall@5 {direction}"] = hits5 / len(pairs)
        t[f"find_matches {direction}"] = times

    # Decomposition of every live narrow feature; verdicts for all narrow features.
    verdicts, confusion = [], Counter()
    part_p, part_r, poly_p, poly_r = [], [], [], []
    times = []
    for f in full:
        rep, ms = timed(m.find_decomposition, "full", f["feature"], 12)
        times.append(ms)
        want = EXPECTED_VERDICT[f["role"]]
        verdicts.append(rep.verdict == want)
        confusion[(f["role"], rep.verdict)] += 1
        if f["role"] == "split":
            p, r = prf(set(rep.part_ids), set(f["counterparts"]))
            part_p.append(p)
            part_r.append(r)
        if f["role"] == "polysemantic":
            p, r = prf(set(rep.part_ids), set(f["counterparts"]))
            poly_p.append(p)
            poly_r.append(r)
    t["find_decomposition full"] = times
    out["verdict accuracy (full)"] = float(np.mean(verdicts))
    for name, (ps, rs) in (("split", (part_p, part_r)), ("polysemantic", (poly_p, poly_r))):
        p, r = float(np.mean(ps)), float(np.mean(rs))
        out[f"part precision {name}"] = p
        out[f"part recall {name}"] = r
        out[f"part F1 {name}"] = 2 * p * r / (p + r) if p + r else 0.0
    out["verdict confusion (role -> verdict)"] = {f"{a} -> {b}": c for (a, b), c in sorted(confusion.items())}

    # Wide features: verdict of their parent relation, on a sample.
    sample = rng.choice(len(ultra), size=min(n_queries, len(ultra)), replace=False)
    wide_expect = {"one_to_one": "one_to_one", "child": "split", "component": "polysemantic",
                   "unique": "no_counterpart", "dead": "no_counterpart"}
    ok, times = [], []
    for j in sample:
        rep, ms = timed(m.find_decomposition, "ultra", int(j), 12)
        times.append(ms)
        ok.append(rep.verdict == wide_expect[ultra[j]["role"]])
    t["find_decomposition ultra"] = times
    out["verdict accuracy (ultra sample)"] = float(np.mean(ok))

    # "No counterpart" precision/recall from find_matches, both directions (sampled).
    for src, items, none_roles in (("full", full, {"unique", "dead"}), ("ultra", ultra, {"unique", "dead"})):
        idx = rng.choice(len(items), size=min(n_queries, len(items)), replace=False)
        pred, true = set(), set()
        for i in idx:
            rep = m.find_matches(src, int(i), 10)
            if not rep.has_counterpart:
                pred.add(int(i))
            if items[i]["role"] in none_roles:
                true.add(int(i))
        p, r = prf(pred, true)
        out[f"no-counterpart precision ({src})"] = p
        out[f"no-counterpart recall ({src})"] = r

    # compare_features on true pairs and random pairs.
    times = []
    for i in rng.choice(len(pairs), size=min(200, len(pairs)), replace=False):
        _, ms = timed(m.compare_features, "full", pairs[i][0], pairs[i][1])
        times.append(ms)
    t["compare_features"] = times
    return out


def baseline_rows(seed: int) -> tuple[dict, dict]:
    """The original's per-feature rows (top examples with tokens and build keys), lazily."""
    vocab, full_src, ultra_src, _ = generate(seed)

    class Rows:
        def __init__(self, src):
            self.top = top_examples_from_activations(src.activations, src.example_tokens)
            self.starts = np.searchsorted(self.top.feature_id, np.arange(src.n_features + 1))
            self.keys = src.example_keys

        def get(self, feature: int, default=None) -> list[dict]:
            lo, hi = int(self.starts[feature]), int(self.starts[feature + 1])
            out = []
            for r in range(lo, hi):
                a, b = self.top.tokens.indptr[r], self.top.tokens.indptr[r + 1]
                out.append({
                    "activation": float(self.top.activation[r]),
                    "tokens": [vocab[t] for t in self.top.tokens.indices[a:b]],
                    "key": str(self.keys[self.top.example_row[r]]),
                })
            return out

    rows = {"full": Rows(full_src), "ultra": Rows(ultra_src)}
    return rows, {"full": full_src.n_features, "ultra": ultra_src.n_features}


def evaluate_baseline(truth: dict, n_queries: int, rng: np.random.Generator, seed: int) -> dict:
    rows, sizes = baseline_rows(seed)
    base = OriginalMatcher(rows, sizes)
    pairs = [(f["feature"], f["counterparts"][0]) for f in truth["full"] if f["role"] == "one_to_one"]
    pick = rng.choice(len(pairs), size=min(n_queries, len(pairs)), replace=False)
    out: dict = {"timings_ms": {}}
    for direction, src, tgt in (("full->ultra", "full", "ultra"), ("ultra->full", "ultra", "full")):
        hits1 = hits5 = 0
        times = []
        for i in pick:
            q, want = pairs[i] if src == "full" else (pairs[i][1], pairs[i][0])
            res, ms = timed(base.find_matches, src, tgt, q, 500, 10)
            times.append(ms)
            ids = [t for t, _ in res]
            hits1 += bool(ids) and ids[0] == want
            hits5 += want in ids[:5]
        out[f"recall@1 {direction}"] = hits1 / len(pick)
        out[f"recall@5 {direction}"] = hits5 / len(pick)
        out["timings_ms"][f"find_matches {direction}"] = times
    out["n_queries"] = len(pick)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--queries", type=int, default=400, help="sampled queries for sampled metrics")
    ap.add_argument("--baseline-queries", type=int, default=60, help="queries for the original method")
    ap.add_argument("--seed", type=int, default=DEMO_SEED)
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    pair_dir = ensure_demo_pair(seed=args.seed)
    t0 = time.perf_counter()
    m = open_pair(pair_dir)
    load_s = time.perf_counter() - t0
    m.find_matches("full", 0, 10)  # touch once
    truth = load_truth(pair_dir)
    core = evaluate_core(m, truth, args.queries, rng)
    rss_core_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = evaluate_baseline(truth, args.baseline_queries, rng, args.seed) if args.baseline_queries else None

    rows = []
    for key, val in core.items():
        if key in ("timings_ms", "verdict confusion (role -> verdict)"):
            continue
        b = base.get(key) if base else None
        rows.append((key, f"{val:.3f}", "" if b is None else f"{b:.3f}"))
    print(f"\nQuality on the demo pair ({pair_dir.name}); original method on {args.baseline_queries} queries")
    print(f"{'metric':42s} {'core':>8s} {'original':>9s}")
    for k, v, b in rows:
        print(f"{k:42s} {v:>8s} {b:>9s}")
    print("\nverdict confusion (truth role -> verdict):")
    for k, c in core["verdict confusion (role -> verdict)"].items():
        print(f"  {k:36s} {c:6d}")
    print(f"\n{'call':36s} {'n':>5s} {'p50 ms':>9s} {'p95 ms':>9s} {'orig p50':>10s} {'speed-up':>9s}")
    speed = {}
    for k, times in core["timings_ms"].items():
        bt = base["timings_ms"].get(k) if base else None
        p50 = statistics.median(times)
        b50 = statistics.median(bt) if bt else None
        speed[k] = {"n": len(times), "p50_ms": p50, "p95_ms": pct(times, 95),
                    "original_p50_ms": b50, "speedup": (b50 / p50) if b50 else None}
        print(f"{k:36s} {len(times):5d} {p50:9.2f} {pct(times, 95):9.2f} "
              f"{'' if b50 is None else f'{b50:10.1f}'} {'' if b50 is None else f'{b50 / p50:8.0f}x'}")
    print(f"\nload {load_s:.2f} s; peak RSS after core queries {rss_core_mb:.0f} MB")
    if args.json:
        result = {
            "pair": str(pair_dir), "load_s": load_s, "peak_rss_mb_core": rss_core_mb,
            "core": {k: v for k, v in core.items() if k != "timings_ms"},
            "original": None if base is None else {k: v for k, v in base.items() if k != "timings_ms"},
            "speed": speed,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
