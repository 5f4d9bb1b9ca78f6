"""Offline analysis: candidate relation statistics on truth-labelled pairs (trained + demo).

For every labelled (narrow, wide) pair -- true same, true refinement (wide inside narrow),
and the other top-20 candidates (neither) -- computes count containment both ways,
activation-mass containment both ways, containment at matched firing rates, correlation and
activation cosine, then prints their distributions and how candidate rules classify them.

    python benchmarks/analyse_relations.py [--kinds topk,relu] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from crossmodel_matcher.demo import ensure_demo_pair
from crossmodel_matcher.demo import load_truth as load_demo_truth
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_source import open_pair
from crossmodel_matcher.trainedpair import PairSpec, ensure_trained_pair, load_truth


def pair_stats(m: Matcher, a_name: str, fa: int, b_name: str, fb: int) -> dict:
    a, b = m.pair.model(a_name), m.pair.model(b_name)
    ia, va = a.column(fa)
    ib, vb = b.column(fb)
    va, vb = np.asarray(va, dtype=np.float64), np.asarray(vb, dtype=np.float64)
    in_b = np.isin(ia, ib)
    in_a = np.isin(ib, ia)
    n = m.pair.n_aligned
    sab = float(np.dot(va[in_b], vb[in_a])) if in_b.any() else 0.0  # both sorted by example
    k = min(len(ia), len(ib))
    # matched firing rate: the k strongest firings of each, then containment
    ta = ia[np.argsort(-va)[:k]]
    tb = ib[np.argsort(-vb)[:k]]
    matched = len(np.intersect1d(ta, tb)) / k if k else 0.0
    sa, sb = va.sum(), vb.sum()
    cov = sab / n - (sa / n) * (sb / n)
    var_a = (va**2).sum() / n - (sa / n) ** 2
    var_b = (vb**2).sum() / n - (sb / n) ** 2
    return {
        "cnt_b_given_a": in_b.mean() if len(ia) else 0.0,
        "cnt_a_given_b": in_a.mean() if len(ib) else 0.0,
        "mass_b_given_a": va[in_b].sum() / sa if sa > 0 else 0.0,
        "mass_a_given_b": vb[in_a].sum() / sb if sb > 0 else 0.0,
        "matched": matched,
        "corr": cov / np.sqrt(var_a * var_b) if var_a > 0 and var_b > 0 else 0.0,
        "cosine": sab / np.sqrt((va**2).sum() * (vb**2).sum()) if len(ia) and len(ib) else 0.0,
        "rate_ratio": len(ib) / max(len(ia), 1),
    }


def labelled_trained(m: Matcher, truth: dict) -> list[tuple[str, int, int]]:
    rel = truth["relations"]
    same = {int(k): set(v) for k, v in rel["strict"]["same"].items()}
    same_l = {int(k): set(v) for k, v in rel["loose"]["same"].items()}
    ref = {int(k): set(v) for k, v in rel["strict"]["refinements"].items()}
    ref_l = {int(k): set(v) for k, v in rel["loose"]["refinements"].items()}
    out = []
    for n in set(same) | set(ref):
        for w in same.get(n, ()):
            out.append(("same", n, w))
        for w in ref.get(n, ()):
            out.append(("child", n, w))
        for w in m.find_matches("narrow", n, 20).match_ids:
            if w not in same_l.get(n, ()) and w not in ref_l.get(n, ()):
                out.append(("neither", n, w))
    return out


def labelled_demo(m: Matcher, truth: dict, rng) -> list[tuple[str, int, int]]:
    out = []
    full = truth["full"]
    for f in rng.choice(len(full), size=600, replace=False):
        t = full[int(f)]
        if t["role"] == "one_to_one":
            out.append(("same", t["feature"], t["counterparts"][0]))
        elif t["role"] == "split":
            out += [("child", t["feature"], c) for c in t["counterparts"]]
        elif t["role"] == "polysemantic":
            out += [("poly", t["feature"], c) for c in t["counterparts"]]
        else:
            continue
        known = set(t["counterparts"])
        for w in m.find_matches("full", t["feature"], 20).match_ids:
            if w not in known:
                out.append(("neither", t["feature"], w))
    return out


def summarise(name: str, rows: list[dict]) -> None:
    keys = [k for k in rows[0] if k not in ("label", "n", "w")]
    print(f"\n== {name}")
    for label in ("same", "child", "poly", "neither"):
        sub = [r for r in rows if r["label"] == label]
        if not sub:
            continue
        print(f"  {label} (n={len(sub)})")
        for k in keys:
            v = np.array([r[k] for r in sub])
            q = np.percentile(v, [5, 25, 50, 75, 95])
            print(f"    {k:16s} " + " ".join(f"{x:6.3f}" for x in q))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kinds", default="topk,relu")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    widths = {"topk": (256, 2048), "relu": (256, 2048)}
    all_rows = {}
    for kind in args.kinds.split(","):
        for seed in map(int, args.seeds.split(",")):
            spec = PairSpec(kind, *widths[kind], seed)
            pdir = ensure_trained_pair(spec)
            m = open_pair(pdir)
            rows = [dict(label=lab, n=n, w=w, **pair_stats(m, "narrow", n, "wide", w))
                    for lab, n, w in labelled_trained(m, load_truth(pdir))]
            all_rows[spec.name] = rows
            summarise(spec.name, rows)
    pdir = ensure_demo_pair()
    m = open_pair(pdir)
    rows = [dict(label=lab, n=n, w=w, **pair_stats(m, "full", n, "ultra", w))
            for lab, n, w in labelled_demo(m, load_demo_truth(pdir), np.random.default_rng(0))]
    all_rows["demo"] = rows
    summarise("demo", rows)
    if args.json:
        Path(args.json).write_text(json.dumps(all_rows, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
