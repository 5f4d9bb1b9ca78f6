"""`crossmodel-matcher info`: what a pair directory holds, as JSON."""

from __future__ import annotations

import argparse

from crossmodel_matcher.pair_choice import add_pair_argument, resolve_pair_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_argument(parser)


def run(args: argparse.Namespace) -> int:
    from crossmodel_matcher.cli.errors import fail
    from crossmodel_matcher.errors import PairFormatError
    from crossmodel_matcher.pair_source import open_pair

    try:
        matcher = open_pair(resolve_pair_dir(args.pair))
    except PairFormatError as exc:
        return fail(exc)
    print(matcher.info().model_dump_json(indent=2))
    return 0
