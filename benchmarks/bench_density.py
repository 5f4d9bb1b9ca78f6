"""Build and query a pair at SplatNLP-like density: load/index-build time, query p50, memory.

SplatNLP's SAEs fire ~190 of 2,048 (full) and ~2,200 of 24,576 (ultra) features per example.
This script draws random activations at that density over builds from the demo generator
(at least 50,000 examples), builds a pair through the normal ingestion path (the all-pairs
cross statistics then take the dense torch path, on the GPU when there is one), loads it and
times queries. Activations are random, so only speed and memory mean anything here.

    python benchmarks/bench_density.py [--examples 50000] [--json PATH] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.demo import demo_vocab, generate_builds
from crossmodel_matcher.pair_source import build_pair, open_pair
from crossmodel_matcher.store.sources import ModelSource


def random_activations(rng: np.random.Generator, n: int, f: int, per_row: int) -> sp.csr_matrix:
    """n x f, `per_row` distinct active features per row (Zipf-ish popularity), values in (0, 6]."""
    popularity = rng.permutation(1.0 / np.arange(1, f + 1) ** 0.6)
    cdf = np.cumsum(popularity / popularity.sum())
    indptr = np.arange(n + 1, dtype=np.int64) * per_row
    indices = np.empty(n * per_row, dtype=np.int32)
    for lo in range(0, n, 4096):
        hi = min(n, lo + 4096)
        draws = np.searchsorted(cdf, rng.random((hi - lo, per_row * 2)))
        draws = np.minimum(draws, f - 1)
        for i, row in enumerate(draws, start=lo):
            uniq = np.unique(row)
            if len(uniq) < per_row:
                uniq = np.unique(np.concatenate([uniq, rng.choice(f, per_row, replace=False)]))
            indices[i * per_row : (i + 1) * per_row] = np.sort(rng.choice(uniq, per_row, replace=False))
    data = np.minimum(rng.exponential(0.8, size=n * per_row), 6.0).astype(np.float32) + 1e-3
    return sp.csr_matrix((data, indices, indptr), shape=(n, f))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=50_000)
    ap.add_argument("--full-active", type=int, default=190)
    ap.add_argument("--ultra-active", type=int, default=2200)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--keep", metavar="DIR", help="write the pair here and keep it")
    args = ap.parse_args()
    rng = np.random.default_rng(11)
    vocab = demo_vocab()
    t0 = time.perf_counter()
    builds = generate_builds(rng, args.examples, vocab)
    full = random_activations(rng, args.examples, 2048, args.full_active)
    ultra = random_activations(rng, args.examples, 24576, args.ultra_active)
    t_gen = time.perf_counter() - t0
    print(f"generated {args.examples} examples: full nnz {full.nnz:,}, ultra nnz {ultra.nnz:,} "
          f"({t_gen:.1f} s)", file=sys.stderr)
    sources = [
        ModelSource(name, acts.shape[1], builds.keys, builds.tokens, acts, origin="bench_density")
        for name, acts in (("full", full), ("ultra", ultra))
    ]
    del full, ultra
    out_root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cm-density-"))
    pair_dir = out_root / "pair"
    t0 = time.perf_counter()
    build_pair(vocab, sources[0], sources[1], pair_dir, description="density benchmark")
    t_build = time.perf_counter() - t0
    rss_build = peak_rss_mb()
    del sources
    t0 = time.perf_counter()
    m = open_pair(pair_dir)
    t_load = time.perf_counter() - t0
    timings: dict[str, list[float]] = {}
    calls = {
        "find_matches full->ultra": lambda i: m.find_matches("full", i % 2048, 10),
        "find_matches ultra->full": lambda i: m.find_matches("ultra", (i * 97) % 24576, 10),
        "compare_features": lambda i: m.compare_features("full", i % 2048, (i * 97) % 24576),
        "find_decomposition full": lambda i: m.find_decomposition("full", i % 2048, 12),
        "find_decomposition ultra": lambda i: m.find_decomposition("ultra", (i * 97) % 24576, 12),
    }
    for name, fn in calls.items():
        fn(0)
        times = []
        for i in range(1, args.queries + 1):
            t = time.perf_counter()
            fn(i)
            times.append((time.perf_counter() - t) * 1000)
        timings[name] = times
    size_mb = sum(p.stat().st_size for p in pair_dir.rglob("*") if p.is_file()) / 2**20
    print(f"\nSplatNLP-like density: {args.examples:,} examples, {args.full_active}/2048 and "
          f"{args.ultra_active}/24576 active per example")
    print(f"build (tables + all-pairs index) {t_build:8.1f} s   peak RSS during build {rss_build:8.0f} MB")
    print(f"load                             {t_load:8.2f} s   pair on disk {size_mb:8.0f} MB")
    print(f"{'call':30s} {'p50 ms':>9s} {'p95 ms':>9s}")
    for name, times in timings.items():
        print(f"{name:30s} {statistics.median(times):9.2f} {np.percentile(times, 95):9.2f}")
    print(f"peak RSS overall {peak_rss_mb():.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "examples": args.examples, "build_s": t_build, "load_s": t_load, "peak_rss_build_mb": rss_build,
            "peak_rss_mb": peak_rss_mb(), "pair_mb": size_mb,
            "p50_ms": {k: statistics.median(v) for k, v in timings.items()},
            "p95_ms": {k: float(np.percentile(v, 95)) for k, v in timings.items()},
        }, indent=2))
    if not args.keep:
        shutil.rmtree(out_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
