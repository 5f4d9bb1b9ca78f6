"""Which pair directory to load: --pair, else $CROSSMODEL_MATCHER_PAIR, else the demo pair."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

PAIR_ENV = "CROSSMODEL_MATCHER_PAIR"


def add_pair_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pair",
        metavar="DIR",
        default=None,
        help=f"model pair directory (default: ${PAIR_ENV}, else the demo pair, built on first use)",
    )


def resolve_pair_dir(pair: str | None, progress: bool = True) -> Path:
    """The pair directory to load; builds the demo pair into the cache when none is named."""
    chosen = pair or os.environ.get(PAIR_ENV)
    if chosen:
        return Path(chosen).expanduser()
    from crossmodel_matcher.demo_paths import demo_pair_dir, is_built

    if is_built(demo_pair_dir()):  # the generator (numpy, scipy) is imported only to build it
        return demo_pair_dir()
    from crossmodel_matcher.demo import ensure_demo_pair

    return ensure_demo_pair(progress=progress)
