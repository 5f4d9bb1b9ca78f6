"""`crossmodel-matcher info`: what a pair directory holds, as JSON."""

from __future__ import annotations

import argparse
import json

from crossmodel_matcher.pair_choice import add_pair_argument, resolve_pair_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_argument(parser)


def run(args: argparse.Namespace) -> int:
    from crossmodel_matcher.cli.errors import fail
    from crossmodel_matcher.errors import PairFormatError
    from crossmodel_matcher.pair_source import open_pair
    from crossmodel_matcher.store.format import read_manifest

    try:
        matcher = open_pair(resolve_pair_dir(args.pair))
    except PairFormatError as exc:
        return fail(exc)
    info = json.loads(matcher.info().model_dump_json())
    manifest = read_manifest(resolve_pair_dir(args.pair))
    # How the pair was built: the sample behind find_decomposition, the user's limits.
    info["n_sample_examples"] = manifest.get("n_sample_examples", info["n_aligned_examples"])
    info["build_limits"] = manifest.get("build_limits")
    print(json.dumps(info, indent=2))
    return 0
