"""SplatNLP at its real scale: build a pair from an efficient store of N examples, streamed.

Writes once (cached) a synthetic store in SplatNLP's efficient layout at real density for
both models (`scale_store.py`: full 2,048 features ~190 active, ultra 24,576 ~2,200 active,
zarr v3 batches + metadata parquet), then builds the pair with `crossmodel-matcher build` in
a child process, and prints: examples/s, wall time, peak RSS of the build, pair size on
disk, load time and find_matches time of the served pair (and of the demo pair, when it is
cached), and the ratio of build time to the dense-matmul bound: two fp32 GEMMs (sum of
products, co-fire counts) over the aligned examples, timed in this same run.

    python benchmarks/bench_scale.py --examples 100000 [--json PATH] [--sample-examples N]
        [--memory-limit SIZE] [--device cpu] [--cache DIR] [--max-examples N] [--reuse-chunks]

`--reuse-chunks` (used for 843,000 on 2 shared cores): ultra's batches after the first link
to the first batch's compressed chunks, so the store is written in minutes; the reader
reads and decompresses the same bytes per row, but those rows' activations repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_store import N_FULL, N_ULTRA, write_store  # noqa: E402

from crossmodel_matcher.rules import DEFAULT_SAMPLE_EXAMPLES  # noqa: E402

PROBE = r"""
import json, statistics, sys, time
import numpy as np
from crossmodel_matcher.pair_source import open_pair
out = {}
for label, path in json.loads(sys.argv[1]).items():
    t0 = time.perf_counter()
    m = open_pair(path)
    load = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    times, by_model = [], {}
    for name in [x.name for x in m.pair.models]:
        n = m.pair.model(name).n_features
        for f in rng.choice(n, 5, replace=False):  # warm-up
            m.find_matches(name, int(f), 10)
        mine = []
        for f in rng.choice(n, 50, replace=False):
            t0 = time.perf_counter()
            m.find_matches(name, int(f), 10)
            mine.append(1000 * (time.perf_counter() - t0))
        times += mine
        by_model[name] = statistics.median(mine)
    out[label] = {"load_s": load, "find_matches_p50_ms": statistics.median(times), "by_model": by_model}
print(json.dumps(out))
"""


def du_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_build(store: Path, out: Path, args) -> dict:
    cmd = [
        sys.executable, "-m", "crossmodel_matcher", "build", "--out", str(out), "--force", "--json",
        "--vocab", str(store / "vocab.json"), "--weapon-vocab", str(store / "weapon_vocab.json"),
        "--model", f"full:splatnlp-acts={store / 'full'}", "--model", f"ultra:splatnlp-acts={store / 'ultra'}",
        "--sample-examples", str(args.sample_examples),
        *(["--memory-limit", args.memory_limit] if args.memory_limit else []),
        "--device", args.device,
    ]
    if args.max_examples:
        cmd += ["--max-examples", str(args.max_examples)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    summary = proc.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build failed (status {status}): {summary}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": usage.ru_maxrss / 1024, "summary": json.loads(summary)}


def probe(pairs: dict[str, str]) -> dict:
    res = subprocess.run([sys.executable, "-c", PROBE, json.dumps(pairs)], capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(res.stderr)
    return json.loads(res.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=100_000)
    ap.add_argument("--sample-examples", type=int, default=DEFAULT_SAMPLE_EXAMPLES)
    ap.add_argument("--memory-limit", help="the build's --memory-limit (default: the build's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-examples", type=int)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "crossmodel-matcher-bench")
    ap.add_argument("--reuse-chunks", action="store_true",
                    help="write ultra's batches after the first as links to its chunks (minutes, not hours)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    store = args.cache / f"scale-{args.examples}"
    t0 = time.perf_counter()
    write_store(store, args.examples, say=lambda m: print(m, file=sys.stderr, flush=True),
                reuse_chunks=args.reuse_chunks)
    store_s = time.perf_counter() - t0
    pair = args.cache / f"pair-{args.examples}"
    build = run_build(store, pair, args)
    manifest = json.loads((pair / "pair.json").read_text())
    n_aligned = int(manifest["n_aligned_examples"])
    from crossmodel_matcher.demo_paths import demo_pair_dir
    from crossmodel_matcher.store.cross_stats import dense_bound_seconds

    t0, c0 = time.perf_counter(), time.process_time()
    bound = dense_bound_seconds(n_aligned, N_FULL, N_ULTRA, args.device)
    # The same in CPU seconds (threads used while it ran x its wall time): on a shared machine
    # the CPU-time ratio compares work with work, whatever the other load did to wall time.
    bound_cpu = bound * (time.process_time() - c0) / max(time.perf_counter() - t0, 1e-9)
    pairs = {"scale": str(pair)}
    demo = demo_pair_dir()
    if (demo / "pair.json").is_file():
        pairs["demo"] = str(demo)
    served = probe(pairs)
    n_ultra = next(m["n_examples"] for m in manifest["models"] if m["name"] == "ultra")
    row = {
        "examples": args.examples,
        "n_aligned": n_aligned,
        "n_sample": manifest.get("n_sample_examples", n_aligned),
        "store_gb": round(du_bytes(store) / 1e9, 2),
        "store_reuses_chunks": json.loads((store / ".complete").read_text()).get("reuse_chunks", False),
        "store_write_s": round(store_s, 1),
        "build_s": round(build["wall_s"], 1),
        "examples_per_s": round(n_ultra / build["wall_s"], 1),
        "peak_rss_gb": round(build["peak_rss_mb"] / 1024, 2),
        "pair_gb": round(du_bytes(pair) / 1e9, 2),
        "dense_bound_s": round(bound, 1),
        "build_over_bound": round(build["wall_s"] / bound, 2),
        "build_cpu_s": round(build["cpu_s"], 1),
        "dense_bound_cpu_s": round(bound_cpu, 1),
        "build_over_bound_cpu": round(build["cpu_s"] / bound_cpu, 2),
        "load_s": round(served["scale"]["load_s"], 2),
        "find_matches_p50_ms": round(served["scale"]["find_matches_p50_ms"], 2),
        **{f"find_matches_p50_ms_from_{k}": round(v, 2) for k, v in served["scale"]["by_model"].items()},
        "demo_find_matches_p50_ms": round(served["demo"]["find_matches_p50_ms"], 2) if "demo" in served else None,
        **({f"demo_find_matches_p50_ms_from_{k}": round(v, 2) for k, v in served["demo"]["by_model"].items()}
           if "demo" in served else {}),
        "caches_s": (build["summary"].get("build_report") or {}).get("caches_s"),
        "build_report": build["summary"].get("build_report"),
        "limits": manifest.get("build_limits"),
        "cpu_threads": os.cpu_count(),
        "loadavg_after": os.getloadavg()[0],
    }
    keys = [k for k in row if k not in ("build_report", "limits")]
    width = max(len(k) for k in keys)
    for k in keys:
        print(f"{k:<{width}}  {row[k]}")
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
