"""Figures drawn from the core's reports (matplotlib Agg; no MCP, no matcher inside).

Each function takes one report and returns a `FigureImage` (800x600 PNG bytes, deterministic
for the same report, and a one-line caption). matplotlib is imported on first use, so importing
this package (e.g. for `figures.kinds`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "containment_plane": "crossmodel_matcher.figures.containment",
    "decomposition_bars": "crossmodel_matcher.figures.decomposition",
    "pair_overview": "crossmodel_matcher.figures.overview",
    "FigureImage": "crossmodel_matcher.figures.style",
    "WIDTH_PX": "crossmodel_matcher.figures.style",
    "HEIGHT_PX": "crossmodel_matcher.figures.style",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
