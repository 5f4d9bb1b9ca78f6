"""Where the demo pair is cached: importable without the generator (fast server start)."""

from __future__ import annotations

import os
from pathlib import Path

DEMO_SEED = 20260524
DEMO_VERSION = 2  # 2: pair format 2 (checksums)
CACHE_ENV = "CROSSMODEL_MATCHER_CACHE"
TRUTH_FILE = "truth.json"


def default_cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "crossmodel-matcher"
    )
    return Path(base)


def demo_pair_dir(cache_dir: str | Path | None = None, seed: int = DEMO_SEED) -> Path:
    return Path(cache_dir or default_cache_dir()) / f"demo-v{DEMO_VERSION}-seed{seed}"


def is_built(pair_dir: Path) -> bool:
    """Whether the demo pair in `pair_dir` is complete (manifest and planted truth)."""
    return (pair_dir / "pair.json").is_file() and (pair_dir / TRUTH_FILE).is_file()
