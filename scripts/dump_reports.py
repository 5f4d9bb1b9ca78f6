"""Dump a fixed set of reports from a freshly built demo pair as JSON (timings removed).

Used to show a refactor changes no answer: run before and after on the same seed and diff.

    PYTHONPATH=src python scripts/dump_reports.py OUT.json [--cache DIR]

The demo pair is generated into DIR (a fresh temporary directory by default), so generation,
ingestion, loading, the alignment and every tool are all exercised; a tokens-only copy of the
pair covers the no-activation paths. Files of the built pair are hashed too.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from crossmodel_matcher.demo import ensure_demo_pair
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.rules import MAX_UNIQUE_LIMIT
from crossmodel_matcher.store.format import load_pair

TIMING_KEYS = {"elapsed_ms", "load_ms", "round_trip_ms"}
FEATURES = {"full": [0, 1, 5, 17, 100, 333, 777, 1024, 1500, 2047],
            "ultra": [0, 7, 99, 1234, 5000, 12000, 20000, 24575]}


def scrub(obj):
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


def dump(m) -> dict:
    out: dict = {"info": m.info().model_dump(mode="json"),
                 "alignment": m.alignment_summary().model_dump(mode="json")}
    for model, feats in FEATURES.items():
        for f in feats:
            key = f"{model}/{f}"
            fm = m.find_matches(model, f, 10)
            out[f"find_matches/{key}"] = fm.model_dump(mode="json")
            out[f"find_matches_jaccard/{key}"] = m.find_matches(model, f, 5, "jaccard").model_dump(mode="json")
            out[f"describe/{key}"] = m.describe_feature(model, f, 20).model_dump(mode="json")
            out[f"decompose/{key}"] = m.find_decomposition(model, f, 12).model_dump(mode="json")
            if fm.matches:
                t = fm.matches[0].target_feature
                out[f"compare/{key}/{t}"] = m.compare_features(model, f, t).model_dump(mode="json")
        for off, lim in ((0, 50), (10, MAX_UNIQUE_LIMIT)):
            page = m.list_unique_features(model, off, lim)
            out[f"unique/{model}/{off}/{lim}"] = page.model_dump(mode="json")
    return out


def tokens_only(pair):
    models = tuple(
        dataclasses.replace(t, act_indptr=None, act_indices=None, act_data=None) for t in pair.models
    )
    return dataclasses.replace(pair, models=models, cross_sum_prod=None, cross_cofire=None)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--cache", default=None)
    args = ap.parse_args()
    cache = Path(args.cache or tempfile.mkdtemp(prefix="dump-reports-"))
    pair_dir = ensure_demo_pair(cache, progress=False)
    hashes = {
        str(p.relative_to(pair_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(pair_dir.rglob("*")) if p.is_file() and "cache" not in p.parts
    }
    pair = load_pair(pair_dir)
    result = {"files": hashes, "demo": dump(Matcher(pair, None)),
              "tokens_only": dump(Matcher(tokens_only(pair), None))}
    Path(args.out).write_text(json.dumps(scrub(result), indent=1, sort_keys=True))
    print(f"wrote {args.out} from {pair_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
