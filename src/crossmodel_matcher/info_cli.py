"""`crossmodel-matcher info`: what a pair directory holds, as JSON; `--verify` re-hashes it."""

from __future__ import annotations

import argparse
import sys
import time

from crossmodel_matcher.pair_source import add_pair_argument, resolve_pair_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_argument(parser)
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also re-hash every file against the checksums written at build time",
    )


def run(args: argparse.Namespace) -> int:
    from crossmodel_matcher.matcher import Matcher
    from crossmodel_matcher.store.format import PairFormatError

    t0 = time.perf_counter()
    try:
        pair_dir = resolve_pair_dir(args.pair)
        matcher = Matcher.from_dir(pair_dir, verify=args.verify)
    except PairFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot read the pair in {args.pair}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.verify:
        print(f"verified {pair_dir}: every file matches its checksum ({time.perf_counter() - t0:.2f}s)",
              file=sys.stderr)
    print(matcher.info().model_dump_json(indent=2))
    return 0
