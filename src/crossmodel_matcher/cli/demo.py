"""`crossmodel-matcher demo`: build the demo pair if needed and run the scripted session."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the raw structured results as JSON")


def run(args: argparse.Namespace) -> int:
    import anyio

    from crossmodel_matcher.demo import ensure_demo_pair, load_truth
    from crossmodel_matcher.demo.session import choose_features, session

    pair_dir = ensure_demo_pair(progress=True)
    picks = choose_features(load_truth(pair_dir))
    return anyio.run(session, pair_dir, picks, bool(args.json))
