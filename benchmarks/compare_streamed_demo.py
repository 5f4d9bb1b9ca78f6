"""Are the demo pair's reports unchanged by the streamed build? Build the demo's two sources
in memory (the direct path) and as activation streams (`store.stream_build`), then compare
find_matches and find_decomposition of sampled features of both models.

Prints how many reports are byte-identical as JSON (timings removed), how many agree on
every id, verdict and band, and the largest difference of any number in them.

    python benchmarks/compare_streamed_demo.py [--features 40] [--sample-examples N] [--json PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from crossmodel_matcher.demo import DEMO_SEED, generate
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.store.ingest import build_pair_tables
from crossmodel_matcher.store.limits import BuildLimits
from crossmodel_matcher.store.sources import CsrStream


def _strip(obj):
    """A report's JSON without timings; numbers and the rest apart."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k != "elapsed_ms"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _numbers(obj, out: list) -> list:
    if isinstance(obj, dict):
        for v in obj.values():
            _numbers(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _numbers(v, out)
    elif isinstance(obj, float):
        out.append(obj)
    return out


def _shape(obj):
    """Everything but floats: ids, verdicts, bands, labels, counts."""
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_shape(v) for v in obj]
    return None if isinstance(obj, float) else obj


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=int, default=40, help="features sampled per model")
    ap.add_argument("--sample-examples", type=int, default=10**9,
                    help="the streamed build's sample (default: all aligned examples, as the direct path)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    vocab, a, b, _ = generate(DEMO_SEED)
    core = build_pair_tables(vocab, a, b, progress=False)
    streamed_sources = [
        dataclasses.replace(s, activations=None, activation_stream=CsrStream(s.activations, s.name)) for s in (a, b)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        limits = BuildLimits(sample_examples=args.sample_examples, state_dir=Path(tmp) / "state")
        streamed = build_pair_tables(vocab, *streamed_sources, progress=False, limits=limits)
    m1, m2 = Matcher(core), Matcher(streamed)
    rng = np.random.default_rng(0)
    stats = {"n_aligned": core.n_aligned, "n_sample": streamed.n_sampled, "reports": 0, "byte_identical": 0, "same_ids_verdicts_bands": 0, "max_abs_diff": 0.0}
    for model in (m.name for m in core.models):
        n = core.model(model).n_features
        for f in rng.choice(n, args.features, replace=False):
            for call in ("find_matches", "find_decomposition"):
                r1 = _strip(json.loads(getattr(m1, call)(model, int(f)).model_dump_json()))
                r2 = _strip(json.loads(getattr(m2, call)(model, int(f)).model_dump_json()))
                stats["reports"] += 1
                stats["byte_identical"] += json.dumps(r1) == json.dumps(r2)
                same = _shape(r1) == _shape(r2)
                stats["same_ids_verdicts_bands"] += same
                if same:
                    d = np.abs(np.array(_numbers(r1, [])) - np.array(_numbers(r2, [])))
                    stats["max_abs_diff"] = max(stats["max_abs_diff"], float(d.max(initial=0.0)))
    np.testing.assert_array_equal(core.cross_cofire, streamed.cross_cofire)
    stats["cross_sum_prod_max_rel_diff"] = float(
        np.max(np.abs(core.cross_sum_prod - streamed.cross_sum_prod) / np.maximum(np.abs(core.cross_sum_prod), 1e-6))
    )
    stats["cofire_identical"] = True
    for k, v in stats.items():
        print(f"{k:<28} {v}")
    if args.json:
        args.json.write_text(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
