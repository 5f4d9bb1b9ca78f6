"""Relations and decompositions on trained SAE pairs (and the demo pair), against ground truth.

Trained pairs (`crossmodel_matcher.trainedpair`: TopK and L1-ReLU SAEs trained on synthetic
data with hierarchical true features; truth from decoder alignment, strict cosine >= 0.9 and
loose >= 0.7) and the demo pair (planted truth), side by side:
- recall@1 of the true counterpart, narrow->wide and wide->narrow (queries: strict same pairs;
  a hit: any latent of the other side aligned with the same true feature, loose tier);
- share of true same pairs that compare_features types `same`;
- refinement precision/recall/F1 of find_decomposition (wide latents it names as refinements
  or parts, beside any same counterpart; recall on the strict tier, precision on the loose,
  micro-averaged; a named wide latent that no true feature explains (decoder cosine < 0.7 to
  all) is neither right nor wrong: their count is printed);
  on the demo: of planted splits (parts and refinements; and part_ids alone, the figure
  bench_core reports);
- children F1 of find_matches (top 20 typed `child`);
- verdict accuracy of find_decomposition on narrow latents with an expected verdict;
- on a null twin (the wide side's example keys permuted): share of queries whose top 10 holds
  a calibrated `strong` or a `same` match.

    python benchmarks/bench_trained.py [--kinds topk,relu] [--seeds 1] [--widths 256x2048]
                                       [--no-demo] [--queries 300] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from crossmodel_matcher.demo import DEMO_SEED, default_cache_dir, ensure_demo_pair, generate
from crossmodel_matcher.demo import load_truth as load_demo_truth
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_source import build_pair, open_pair
from crossmodel_matcher.trainedpair import PairSpec, ensure_trained_pair, load_truth

DEMO_VERDICT = {"one_to_one": "one_to_one", "split": "split", "polysemantic": "polysemantic",
                "unique": "no_counterpart", "dead": "no_counterpart"}


class PRF:
    """Micro-averaged precision / recall over many predicted and true sets."""

    def __init__(self) -> None:
        self.tp_p = self.n_pred = self.tp_r = self.n_true = self.n_unknown = 0

    def add(self, pred: set, true_recall: set, true_precision: set | None = None,
            known: set | None = None) -> None:
        """`known`: the ids whose truth is known; other predictions are neither right nor wrong."""
        if known is not None:
            self.n_unknown += len(pred - known)
            pred_p = pred & known
        else:
            pred_p = pred
        self.tp_p += len(pred_p & (true_recall if true_precision is None else true_precision))
        self.n_pred += len(pred_p)
        self.tp_r += len(pred & true_recall)
        self.n_true += len(true_recall)

    def result(self) -> tuple[float, float, float]:
        p = self.tp_p / self.n_pred if self.n_pred else 0.0
        r = self.tp_r / self.n_true if self.n_true else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def refinements_of(rep) -> set[int]:
    """Wide features a decomposition names as refinements or parts."""
    return set(getattr(rep, "refinement_ids", None) or []) | set(rep.part_ids)


def null_rates(m: Matcher, narrow: str, wide: str, n_queries: int, rng) -> dict:
    """Share of queries whose top 10 holds a calibrated strong / a `same` match (null pair)."""
    strong = same = total = 0
    for src in (narrow, wide):
        model = m.pair.model(src)
        live = np.flatnonzero(~model.dead)
        for f in rng.choice(live, size=min(n_queries, len(live)), replace=False):
            rep = m.find_matches(src, int(f), 10)
            strong += any(x.evidence.calibrated_band.value == "strong" for x in rep.matches)
            same += any(x.evidence.relation == "same" for x in rep.matches)
            total += 1
    return {"null false strong": strong / total, "null false same": same / total}


def trained_metrics(m: Matcher, truth: dict) -> dict:
    """Every figure of one trained pair against its decoder-alignment truth."""
    rel = truth["relations"]
    same_s = {int(k): set(v) for k, v in rel["strict"]["same"].items()}
    same_l = {int(k): set(v) for k, v in rel["loose"]["same"].items()}
    ref_s = {int(k): set(v) for k, v in rel["strict"]["refinements"].items()}
    ref_l = {int(k): set(v) for k, v in rel["loose"]["refinements"].items()}
    assign = truth["assignment"]["narrow"]
    aw = truth["assignment"]["wide"]
    known = {i for i, c in enumerate(aw["cosine"]) if c >= 0.7}  # wide latents the truth assigns
    strict_narrow = [i for i, (t, c) in enumerate(zip(assign["truth"], assign["cosine"])) if t >= 0 and c >= 0.9]
    out: dict = {"n same pairs": sum(len(v) for v in same_s.values()),
                 "n refined narrow": len(ref_s), "n refinements": sum(len(v) for v in ref_s.values())}
    hits, typed = [], []
    wide_to_narrow: dict[int, set[int]] = {}  # strict queries, loose answers (duplicates count)
    for n, ws in same_s.items():
        for w in ws:
            wide_to_narrow[w] = {k for k, v in same_l.items() if w in v}
            typed.append(m.compare_features("narrow", n, w).evidence.relation == "same")
    decomp, children = PRF(), PRF()
    verdict_ok = []
    expected = {int(k): v for k, v in truth["expected_verdicts"].items()}
    for n in strict_narrow:
        rep = m.find_matches("narrow", n, 20)
        if n in same_s:
            hits.append(rep.match_ids[0] in same_l[n])
        exclude = same_l.get(n, set())
        true_r, true_p = ref_s.get(n, set()) - exclude, ref_l.get(n, set()) - exclude
        kids = {x.target_feature for x in rep.matches if x.evidence.relation == "child"} - exclude
        children.add(kids, true_r, true_p, known)
        dec = m.find_decomposition("narrow", n, 12)
        decomp.add(refinements_of(dec) - exclude, true_r, true_p, known)
        if n in expected:
            verdict_ok.append(dec.verdict == expected[n])
    back = [m.find_matches("wide", w, 10).match_ids[0] in ns for w, ns in wide_to_narrow.items()]
    out["recall@1 narrow->wide"] = float(np.mean(hits))
    out["recall@1 wide->narrow"] = float(np.mean(back))
    out["true same typed same"] = float(np.mean(typed))
    out.update(dict(zip(("refinement precision", "refinement recall", "refinement F1"), decomp.result())))
    out["children F1 (find_matches top 20)"] = children.result()[2]
    out["unassigned wide named (decomposition / top-20 child)"] = f"{decomp.n_unknown} / {children.n_unknown}"
    out["verdict accuracy"] = float(np.mean(verdict_ok))
    return out


def demo_metrics(m: Matcher, truth: dict, n_queries: int, rng) -> dict:
    """The same figures on the demo pair against its planted truth (sampled queries)."""
    full = truth["full"]
    pairs = [(f["feature"], f["counterparts"][0]) for f in full if f["role"] == "one_to_one"]
    pick = [pairs[i] for i in rng.choice(len(pairs), size=min(n_queries, len(pairs)), replace=False)]
    out: dict = {"n same pairs": len(pairs)}
    out["recall@1 narrow->wide"] = float(np.mean([m.find_matches("full", a, 10).match_ids[0] == b for a, b in pick]))
    out["recall@1 wide->narrow"] = float(np.mean([m.find_matches("ultra", b, 10).match_ids[0] == a for a, b in pick]))
    out["true same typed same"] = float(np.mean(
        [m.compare_features("full", a, b).evidence.relation == "same" for a, b in pick]))
    decomp, children, parts = PRF(), PRF(), PRF()
    verdict_ok = []
    for f in full:
        dec = m.find_decomposition("full", f["feature"], 12)
        verdict_ok.append(dec.verdict == DEMO_VERDICT[f["role"]])
        if f["role"] == "split":
            decomp.add(refinements_of(dec), set(f["counterparts"]))
            parts.add(set(dec.part_ids), set(f["counterparts"]))
            rep = m.find_matches("full", f["feature"], 20)
            children.add({x.target_feature for x in rep.matches if x.evidence.relation == "child"},
                         set(f["counterparts"]))
    out.update(dict(zip(("refinement precision", "refinement recall", "refinement F1"), decomp.result())))
    out["children F1 (find_matches top 20)"] = children.result()[2]
    out["split part F1 (part_ids only)"] = parts.result()[2]
    out["unassigned wide named (decomposition / top-20 child)"] = f"{decomp.n_unknown} / {children.n_unknown}"
    out["verdict accuracy"] = float(np.mean(verdict_ok))
    return out


def demo_null_dir(seed: int = DEMO_SEED) -> Path:
    """The demo pair with the wide side's example keys permuted (built once, cached)."""
    out = Path(default_cache_dir()) / f"demo-null-seed{seed}"
    if (out / "pair.json").is_file():
        return out
    vocab, full, ultra, _ = generate(seed)
    perm = np.random.default_rng(seed).permutation(len(ultra.example_keys))
    build_pair(vocab, full, replace(ultra, example_keys=ultra.example_keys[perm]), out,
               description="null twin of the demo pair (ultra keys permuted)", progress=False)
    return out


def run_pair(label: str, pair_dir: Path, null_dir: Path, truth: dict, names: tuple, args, demo: bool) -> dict:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    m = open_pair(pair_dir)
    row = {"load s": time.perf_counter() - t0}
    row.update(demo_metrics(m, truth, args.queries, rng) if demo else trained_metrics(m, truth))
    row.update(null_rates(open_pair(null_dir), *names, args.null_queries, rng))
    row["seconds"] = time.perf_counter() - t0
    if not demo:
        row["generation s"] = truth.get("generation_seconds")
    print(f"[bench_trained] {label} done in {row['seconds']:.0f} s", file=sys.stderr, flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="topk,relu")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--widths", default="", help="NxW for every kind (default 256x2048)")
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--queries", type=int, default=300, help="sampled same pairs on the demo")
    ap.add_argument("--null-queries", type=int, default=200, help="queries per side on the null pair")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    default_widths = {"topk": (256, 2048), "relu": (256, 2048)}
    results: dict[str, dict] = {}
    for kind in [k for k in args.kinds.split(",") if k]:
        n, w = map(int, args.widths.split("x")) if args.widths else default_widths[kind]
        for seed in map(int, args.seeds.split(",")):
            spec = PairSpec(kind, n, w, seed)
            pair, null = ensure_trained_pair(spec), ensure_trained_pair(spec, null=True)
            results[spec.name] = run_pair(spec.name, pair, null, load_truth(pair), ("narrow", "wide"), args, False)
    if not args.no_demo:
        pair = ensure_demo_pair()
        results["demo"] = run_pair("demo", pair, demo_null_dir(), load_demo_truth(pair), ("full", "ultra"), args, True)
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def print_table(results: dict[str, dict]) -> None:
    cols = list(results)
    keys = [k for k in next(iter(results.values())) if k != "seconds"]
    for r in results.values():
        keys += [k for k in r if k not in keys and k != "seconds"]
    width = max(len(k) for k in keys) + 2
    short = [re.sub(r"^trained-v\d+-", "", c) for c in cols]
    print("| metric".ljust(width) + " | " + " | ".join(short) + " |")
    print("|" + "-" * width + "|" + "|".join("-" * (len(s) + 2) for s in short) + "|")
    for k in keys:
        vals = []
        for c, s in zip(cols, short):
            v = results[c].get(k)
            vals.append(("-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)).rjust(len(s)))
        print(f"| {k}".ljust(width) + " | " + " | ".join(vals) + " |")


if __name__ == "__main__":
    sys.exit(main())
