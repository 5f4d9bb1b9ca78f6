"""`crossmodel-matcher info`: what a pair directory holds, as JSON; `--verify` re-hashes it."""

from __future__ import annotations

import argparse
import json
import sys
import time

from crossmodel_matcher.pair_choice import add_pair_argument, resolve_pair_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_argument(parser)
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also re-hash every file against the checksums written at build time",
    )


def run(args: argparse.Namespace) -> int:
    from crossmodel_matcher.cli.errors import fail
    from crossmodel_matcher.errors import PairFormatError
    from crossmodel_matcher.pair_source import open_pair
    from crossmodel_matcher.store.format import read_manifest

    t0 = time.perf_counter()
    try:
        pair_dir = resolve_pair_dir(args.pair)
        matcher = open_pair(pair_dir, verify=args.verify)
    except PairFormatError as exc:
        return fail(exc)
    except OSError as exc:
        return fail(f"cannot read the pair in {args.pair}: {exc.strerror or exc}")
    if args.verify:
        seconds = time.perf_counter() - t0
        print(f"verified {pair_dir}: every file matches its checksum ({seconds:.2f}s)", file=sys.stderr)
    info = json.loads(matcher.info().model_dump_json())
    manifest = read_manifest(pair_dir)
    # How the pair was built: the sample behind find_decomposition, the user's limits.
    info["n_sample_examples"] = manifest.get("n_sample_examples") or info["n_aligned_examples"]
    limits = manifest.get("build_limits")
    if isinstance(limits, dict) and "memory_budget" in limits:  # built before the one memory limit
        limits = {("memory_limit" if k == "memory_budget" else k): v for k, v in limits.items()}
    info["build_limits"] = limits
    print(json.dumps(info, indent=2))
    return 0
