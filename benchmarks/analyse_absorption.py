"""Offline analysis: candidate matcher changes for the trained ReLU pairs, scored against truth
v1 and v2 (not used by the matcher; the figures quoted in docs/relations.md).

Two questions, each on the cached trained pairs (and the demo where it applies):
- `--what children`: children F1 of find_matches (top 20) when, besides the relation rule's
  `child`, a candidate the rule calls `related` / `none` (above chance, eligible, sharing
  distinctive tokens) is also typed `child` by one of three candidate criteria:
  `signature` -- the source's most distinctive token is in (>= 90% as many of) the target's top
  examples (as its most common token);
  `twin` -- the target has its own `same` counterpart in the source's model and >= 60% of its
  mass lies where the source or that counterpart fires;
  `concept` -- >= 60% of the target's mass lies where the source or one of the source's `same`
  counterparts (in the target's model) fires: the concept as both SAEs draw it.
- `--what ranking`: recall@1 narrow->wide / wide->narrow when the `same` tier of find_matches
  is ordered by another key than match_score.

    python benchmarks/analyse_absorption.py --what children [--pairs relu-2048-1,demo]
    python benchmarks/analyse_absorption.py --what ranking [--pairs relu-2048-1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_trained import PRF  # noqa: E402
from truth_sensitivity import _blocks  # noqa: E402

from crossmodel_matcher.demo import ensure_demo_pair  # noqa: E402
from crossmodel_matcher.demo import load_truth as load_demo_truth  # noqa: E402
from crossmodel_matcher.pair_source import open_pair  # noqa: E402
from crossmodel_matcher.rules import INSIDE_MIN_MASS, RELATION_MIN_CONTAINMENT, RELATION_MIN_TOKEN_OVERLAP  # noqa: E402
from crossmodel_matcher.trainedpair import PairSpec, build, ensure_trained_pair, load_truth  # noqa: E402
from crossmodel_matcher.trainedpair.data import make_features, sample  # noqa: E402

RULES = ("signature", "twin", "concept")
KEYS = ("match", "corr", "jaccard", "mass_min", "count_min", "wov")


def truths(spec: PairSpec, pair_dir: Path) -> dict:
    """Truth v1 (re-derived from the saved decoders) and v2 (the cached one) of a trained pair."""
    inputs = pair_dir.parent / f"{spec.name}-inputs"
    tf = make_features(spec.seed, d=build.D_MODEL)
    _, mag = sample(tf, build.N_EVAL, np.random.default_rng(spec.seed + 2000))
    dec = np.load(inputs / "decoders.npz")
    acts = {n: _blocks(inputs / f"{n}.npz") for n in ("narrow", "wide")}
    base = load_truth(pair_dir)
    return {"v1": dict(base, **build.derive_truth(tf, {n: dec[n] for n in acts}, acts, mag, 1.01)), "v2": base}


def _mass_inside(target, w: int, covers: list[np.ndarray]) -> float:
    idx, val = target.column(w)
    val = np.asarray(val, dtype=np.float64)
    inside = np.zeros(len(idx), dtype=bool)
    for c in covers:
        inside |= np.isin(idx, c)
    return float(val[inside].sum() / max(val.sum(), 1e-12))


def _extra_child(m, rule: str, src: str, f: int, rep, x) -> bool:
    """Whether candidate match `x` of report `rep` is a child under `rule` (beyond the rule's)."""
    e, w = x.evidence, x.target_feature
    if e.relation not in ("related", "none") or not e.above_chance or (e.activation_correlation or 0) <= 0:
        return False
    if max(e.target_given_source, e.source_given_target) < RELATION_MIN_CONTAINMENT:
        return False
    s_model, t_model = m.pair.model(src), m.pair.model(rep.target_model)
    if rule == "signature":
        sig = int(np.argmax(s_model.token_weights[f]))
        ids, cnt = t_model.top_token_ids[w], t_model.top_token_counts[w]
        return bool((cnt[ids == sig] >= 0.9 * max(int(cnt.max()), 1)).any())  # in >= 90% of the rows the most common token is in
    if e.weighted_overlap < RELATION_MIN_TOKEN_OVERLAP:
        return False
    covers = [s_model.column(f)[0]]
    if rule == "twin":
        back = m.find_matches(rep.target_model, w, 1).matches[0]
        if back.evidence.relation != "same" or back.target_feature == f:
            return False
        covers.append(s_model.column(back.target_feature)[0])
    else:
        covers += [t_model.column(s.target_feature)[0] for s in rep.matches if s.evidence.relation == "same"]
    return _mass_inside(t_model, w, covers) >= INSIDE_MIN_MASS


def children(m, src: str, f: int, rule: str) -> tuple[set, set]:
    rep = m.find_matches(src, f, 20)
    old = {x.target_feature for x in rep.matches if x.evidence.relation == "child"}
    return old, old | {x.target_feature for x in rep.matches if _extra_child(m, rule, src, f, rep, x)}


def children_trained(m, truth: dict, rule: str) -> tuple[PRF, PRF]:
    rel = truth["relations"]
    same_l = {int(k): set(v) for k, v in rel["loose"]["same"].items()}
    ref_s = {int(k): set(v) for k, v in rel["strict"]["refinements"].items()}
    ref_l = {int(k): set(v) for k, v in rel["loose"]["refinements"].items()}
    an, aw = truth["assignment"]["narrow"], truth["assignment"]["wide"]
    known = {i for i, c in enumerate(aw["cosine"]) if c >= 0.7}
    before, after = PRF(), PRF()
    for n in [i for i, (t, c) in enumerate(zip(an["truth"], an["cosine"])) if t >= 0 and c >= 0.9]:
        ex = same_l.get(n, set())
        old, new = children(m, "narrow", n, rule)
        before.add(old - ex, ref_s.get(n, set()) - ex, ref_l.get(n, set()) - ex, known)
        after.add(new - ex, ref_s.get(n, set()) - ex, ref_l.get(n, set()) - ex, known)
    return before, after


def children_demo(m, truth: dict, rule: str) -> tuple[PRF, PRF]:
    before, after = PRF(), PRF()
    for f in truth["full"]:
        if f["role"] == "split":
            old, new = children(m, "full", f["feature"], rule)
            before.add(old, set(f["counterparts"]))
            after.add(new, set(f["counterparts"]))
    return before, after


def _top_same(m, src: str, f: int, key: str) -> int:
    rep = m.find_matches(src, f, 10)
    rows = []
    for x in rep.matches:
        e = x.evidence
        if e.relation != "same":
            continue
        cof = e.cofire_count or 0
        n_s, n_t = m.pair.model(src).col_nnz[f], m.pair.model(rep.target_model).col_nnz[x.target_feature]
        rows.append((x.target_feature, {
            "match": e.match_score, "corr": e.activation_correlation, "wov": e.weighted_overlap,
            "jaccard": cof / max(n_s + n_t - cof, 1),
            "mass_min": min(e.target_mass_given_source or 0, e.source_mass_given_target or 0),
            "count_min": min(e.target_given_source, e.source_given_target)}[key]))
    return max(rows, key=lambda r: r[1])[0] if rows else rep.match_ids[0]


def ranking(m, truth: dict, key: str) -> tuple[float, float]:
    rel = truth["relations"]
    strict = {int(k): set(v) for k, v in rel["strict"]["same"].items()}
    loose = {int(k): set(v) for k, v in rel["loose"]["same"].items()}
    fwd = [_top_same(m, "narrow", n, key) in loose[n] for n in strict]
    back = [_top_same(m, "wide", w, key) in {k for k, v in loose.items() if w in v}
            for ws in strict.values() for w in ws]
    return float(np.mean(fwd)), float(np.mean(back))


def _fmt(prf: PRF) -> str:
    p, r, f1 = prf.result()
    return f"{p:.3f} / {r:.3f} / {f1:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--what", choices=("children", "ranking"), default="children")
    ap.add_argument("--pairs", default="relu-2048-1,relu-2048-2,relu-3072-3,topk-2048-1,topk-2048-2,topk-3072-3,demo")
    ap.add_argument("--rules", default=",".join(RULES))
    args = ap.parse_args()
    for item in args.pairs.split(","):
        if item == "demo":
            if args.what == "children":
                pair_dir = ensure_demo_pair()
                m, truth = open_pair(pair_dir), load_demo_truth(pair_dir)
                for rule in args.rules.split(","):
                    before, after = children_demo(m, truth, rule)
                    print(f"| demo | {rule} | {_fmt(before)} -> {_fmt(after)} |", flush=True)
            continue
        kind, wide, seed = item.split("-")
        spec = PairSpec(kind, 256, int(wide), int(seed))
        pair_dir = ensure_trained_pair(spec)
        m = open_pair(pair_dir)
        for version, truth in truths(spec, pair_dir).items():
            if args.what == "ranking":
                cells = [f"{key} {a:.3f}/{b:.3f}" for key in KEYS for a, b in [ranking(m, truth, key)]]
                print(f"| {item} | {version} | " + " | ".join(cells) + " |", flush=True)
                continue
            for rule in args.rules.split(","):
                before, after = children_trained(m, truth, rule)
                print(f"| {item} | {version} | {rule} | {_fmt(before)} -> {_fmt(after)} | "
                      f"unassigned named {before.n_unknown} -> {after.n_unknown} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
