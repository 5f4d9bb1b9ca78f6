"""Figures drawn from the core's reports (matplotlib Agg; no MCP, no matcher inside).

Each function takes one report and returns a `FigureImage` (800x600 PNG bytes, deterministic
for the same report, and a one-line caption).
"""

from crossmodel_matcher.figures.containment import containment_plane
from crossmodel_matcher.figures.decomposition import decomposition_bars
from crossmodel_matcher.figures.overview import pair_overview
from crossmodel_matcher.figures.style import HEIGHT_PX, WIDTH_PX, FigureImage

__all__ = [
    "FigureImage",
    "HEIGHT_PX",
    "WIDTH_PX",
    "containment_plane",
    "decomposition_bars",
    "pair_overview",
]
