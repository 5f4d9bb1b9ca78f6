"""How the trained pairs' figures depend on the truth's absorbed-form condition.

The truth of a trained pair (`trainedpair/truth.py`) assigns a latent to a child's absorbed
form (parent + child) only when the latent does not fire on most of the parent's
parent-alone examples (`ABSORBED_MAX_PARENT_ALONE`, 0.5). This re-derives the truth of each
cached pair from its saved decoders and evaluation activations at several values of that
share (above 1: no condition, the truth of version 1; 0: no absorbed forms at all, plain
nearest-direction alignment) and scores the unchanged matcher
against each with bench_trained's metrics. The matcher is not touched: only the truth moves.

    python benchmarks/truth_sensitivity.py [--pairs topk-2048-1,relu-2048-1] [--shares 1.01,0,0.3,0.5,0.7]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).parent))
from bench_trained import trained_metrics  # noqa: E402

from crossmodel_matcher.pair_source import open_pair  # noqa: E402
from crossmodel_matcher.trainedpair import (  # noqa: E402
    PairSpec,
    build,
    ensure_trained_pair,
    load_truth,
)
from crossmodel_matcher.trainedpair.data import make_features, sample  # noqa: E402

KEYS = ("recall@1 narrow->wide", "recall@1 wide->narrow", "true same typed same", "refinement F1",
        "children F1 (find_matches top 20)", "verdict accuracy")


def _blocks(path: Path, block: int = 4096) -> list[np.ndarray]:
    z = np.load(path)
    csr = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    return [csr[i : i + block].toarray() for i in range(0, csr.shape[0], block)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default="topk-2048-1,topk-2048-2,relu-2048-1,relu-2048-2,topk-3072-3,relu-3072-3",
                    help="kind-wide-seed, comma-separated (narrow width 256)")
    ap.add_argument("--shares", default="1.01,0,0.3,0.5,0.7")
    args = ap.parse_args()
    print("| pair | parent-alone share | " + " | ".join(KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    for item in args.pairs.split(","):
        kind, wide, seed = item.split("-")
        spec = PairSpec(kind, 256, int(wide), int(seed))
        pair_dir = ensure_trained_pair(spec)
        inputs = pair_dir.parent / f"{spec.name}-inputs"
        if not (inputs / "decoders.npz").is_file():
            print(f"{spec.name}: no saved decoders (generated before version 2); skipped", file=sys.stderr)
            continue
        tf = make_features(spec.seed, d=build.D_MODEL)
        _, mag = sample(tf, build.N_EVAL, np.random.default_rng(spec.seed + 2000))  # as generate() drew it
        dec = np.load(inputs / "decoders.npz")
        decoders = {n: dec[n] for n in ("narrow", "wide")}
        acts = {n: _blocks(inputs / f"{n}.npz") for n in ("narrow", "wide")}
        m, base = open_pair(pair_dir), load_truth(pair_dir)
        for share in map(float, args.shares.split(",")):
            truth = dict(base, **build.derive_truth(tf, decoders, acts, mag, share))
            row = trained_metrics(m, truth)
            label = "none (v1)" if share > 1 else "0 (plain)" if share == 0 else f"{share:g}"
            print(f"| {kind} 256/{wide} s{seed} | {label} | " + " | ".join(f"{row[k]:.3f}" for k in KEYS) + " |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
