"""The cache folder: the demo pair and measured build costs live there ($CROSSMODEL_MATCHER_CACHE).

A leaf module, so `demo` and `store` both read the one definition.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "CROSSMODEL_MATCHER_CACHE"


def default_cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "crossmodel-matcher"
    )
    return Path(base)
