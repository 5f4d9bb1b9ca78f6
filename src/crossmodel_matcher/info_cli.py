"""`crossmodel-matcher info`: what a pair directory holds, as JSON."""

from __future__ import annotations

import argparse
import sys

from crossmodel_matcher.pair_source import add_pair_argument, resolve_pair_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_argument(parser)


def run(args: argparse.Namespace) -> int:
    from crossmodel_matcher.matcher import Matcher
    from crossmodel_matcher.store.format import PairFormatError

    try:
        matcher = Matcher.from_dir(resolve_pair_dir(args.pair))
    except PairFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(matcher.info().model_dump_json(indent=2))
    return 0
