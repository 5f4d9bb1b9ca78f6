"""Scale benchmark of `crossmodel-matcher build` on SplatNLP-shaped efficient stores.

Generates (seeded) two efficient stores over the same builds in a temporary folder: an
ultra-sized one (24,576 features, dense float32 zarr v3 batches with Zstd, plus metadata
Parquet) and a "full" one (2,048 features), each missing a different few percent of the
builds and in its own row order, so examples align by build key. Then runs the real build
command in a subprocess and reports its wall time and peak RSS (the child's ru_maxrss).

    python benchmarks/bench_build_scale.py                 # 200,000 examples, ~3-5 min on 2 cores
    python benchmarks/bench_build_scale.py --examples 20000 --json      # quick look

Density: SplatNLP's ultra has ~2,200 of 24,576 features active per example (9%); the default
here is 1% (246 active) for ultra and 5% (102 active) for full, which keeps the generated
zarr small and the run to minutes on a 2-core CPU. The build's memory does not depend on the
number of examples except through the aligned activations it stores (8 bytes per non-zero).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 20260601
N_ABILITY = 138
N_WEAPON = 130
CHUNK_ROWS = 1024


def vocabularies() -> tuple[dict[str, int], dict[str, int]]:
    from crossmodel_matcher.demo import FAMILIES, MAIN_ONLY, RUNGS

    tokens = ["<PAD>", "<MASK>", "<NULL>", *MAIN_ONLY] + [f"{f}_{r}" for f in FAMILIES for r in RUNGS]
    weapons = [f"weapon_id_{1000 * (w // 10) + 10 * (w % 10)}" for w in range(N_WEAPON)]
    return {t: i for i, t in enumerate(tokens)}, {w: i for i, w in enumerate(weapons)}


def generate_builds(rng: np.random.Generator, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    """n builds: 3-8 distinct ability tokens (ids 3..140) and one weapon (a Zipf-ish pick)."""
    k = rng.integers(3, 9, size=n)
    scores = rng.random((n, N_ABILITY))
    order = np.argsort(scores, axis=1)
    ability = [np.sort(order[i, : k[i]]) + 3 for i in range(n)]
    pop = 1.0 / np.arange(1, N_WEAPON + 1)
    weapon = rng.choice(N_WEAPON, size=n, p=pop / pop.sum())
    return ability, weapon


def write_store(
    folder: Path,
    rng: np.random.Generator,
    rows: np.ndarray,
    ability,
    weapon,
    n_features: int,
    density: float,
    n_batches: int,
) -> None:
    """An efficient store over builds `rows` (in that order): random sparse activations."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zarr

    (folder / "activations").mkdir(parents=True)
    (folder / "metadata").mkdir(parents=True)
    active = max(1, int(round(density * n_features)))
    bounds = np.linspace(0, len(rows), n_batches + 1).astype(int)
    for b in range(n_batches):
        lo, hi = int(bounds[b]), int(bounds[b + 1])
        arr = zarr.create_array(
            store=str(folder / "activations" / f"batch_{b:04d}.zarr"),
            shape=(hi - lo, n_features),
            chunks=(CHUNK_ROWS, n_features),
            dtype="float32",
        )
        for c in range(lo, hi, CHUNK_ROWS):
            m = min(hi, c + CHUNK_ROWS) - c
            block = np.zeros((m, n_features), dtype=np.float32)
            cols = rng.integers(0, n_features, size=(m, active))
            block[np.arange(m)[:, None], cols] = rng.random((m, active), dtype=np.float32) * 3 + 0.05
            arr[c - lo : c - lo + m] = block
        sel = rows[lo:hi]
        pq.write_table(
            pa.table(
                {
                    "batch_id": np.full(hi - lo, b),
                    "sample_id": np.arange(hi - lo),
                    "ability_tokens": pa.array([ability[i].tolist() for i in sel], type=pa.list_(pa.int64())),
                    "weapon_id_token": weapon[sel],
                    "is_null_token": np.zeros(hi - lo, dtype=bool),
                    "global_index": np.arange(lo, hi),
                }
            ),
            folder / "metadata" / f"batch_{b:04d}.parquet",
        )
    (folder / "conversion_metadata.json").write_text(
        json.dumps({"n_batches": n_batches, "total_samples": len(rows)})
    )


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=200_000, help="examples per model (default 200,000)")
    p.add_argument("--ultra-features", type=int, default=24_576)
    p.add_argument("--full-features", type=int, default=2_048)
    p.add_argument(
        "--ultra-density", type=float, default=0.01, help="active share per example (SplatNLP: 0.09)"
    )
    p.add_argument(
        "--full-density", type=float, default=0.05, help="active share per example (SplatNLP: 0.09)"
    )
    p.add_argument("--batches", type=int, default=4, help="zarr batches per store")
    p.add_argument("--workdir", help="generate here and keep it (default: a temporary folder, removed)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args()

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-build-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rng = np.random.default_rng(SEED)
        t0 = time.perf_counter()
        n_builds = int(args.examples * 1.03)
        ability, weapon = generate_builds(rng, n_builds)
        vocab, weapons = vocabularies()
        (work / "vocab.json").write_text(json.dumps(vocab))
        (work / "weapon_vocab.json").write_text(json.dumps(weapons))
        for name, feats, dens in (
            ("full", args.full_features, args.full_density),
            ("ultra", args.ultra_features, args.ultra_density),
        ):
            rows = rng.permutation(n_builds)[: args.examples]
            print(f"generating {name}: {args.examples:,} x {feats:,} at density {dens}", file=sys.stderr)
            write_store(work / name, rng, rows, ability, weapon, feats, dens, args.batches)
        gen_s = time.perf_counter() - t0

        out = work / "pair"
        cmd = [
            sys.executable,
            "-m",
            "crossmodel_matcher.cli",
            "build",
            "--out",
            str(out),
            "--force",
            "--json",
            "--vocab",
            str(work / "vocab.json"),
            "--weapon-vocab",
            str(work / "weapon_vocab.json"),
            "--model",
            f"full:splatnlp-acts={work / 'full'}",
            "--model",
            f"ultra:splatnlp-acts={work / 'ultra'}",
        ]
        t1 = time.perf_counter()
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        build_s = time.perf_counter() - t1
        if proc.returncode != 0:
            print(proc.stdout, file=sys.stderr)
            return proc.returncode
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        summary = json.loads(proc.stdout)
        result = {
            "examples_per_model": args.examples,
            "features": {"full": args.full_features, "ultra": args.ultra_features},
            "density": {"full": args.full_density, "ultra": args.ultra_density},
            "active_per_example": {
                "full": round(args.full_density * args.full_features),
                "ultra": round(args.ultra_density * args.ultra_features),
            },
            "aligned_examples": summary["n_aligned"],
            "store_bytes": {n: folder_bytes(work / n) for n in ("full", "ultra")},
            "pair_bytes": folder_bytes(out),
            "generate_s": round(gen_s, 1),
            "build_s": round(build_s, 1),
            "build_peak_rss_mb": round(peak_kb / 1024, 1),
            "cpu_count": os.cpu_count(),
        }
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        rows = [
            ("examples per model", f"{result['examples_per_model']:,}"),
            ("features full / ultra", f"{args.full_features:,} / {args.ultra_features:,}"),
            (
                "active per example full / ultra",
                f"{result['active_per_example']['full']} / {result['active_per_example']['ultra']}",
            ),
            ("aligned examples", f"{result['aligned_examples']:,}"),
            ("zarr stores on disk (MB)", f"{sum(result['store_bytes'].values()) / 2**20:,.0f}"),
            ("pair directory (MB)", f"{result['pair_bytes'] / 2**20:,.0f}"),
            ("generate (s)", f"{result['generate_s']}"),
            ("build (s)", f"{result['build_s']}"),
            ("build peak RSS (MB)", f"{result['build_peak_rss_mb']:,}"),
        ]
        width = max(len(k) for k, _ in rows)
        print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
