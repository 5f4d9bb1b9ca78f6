"""Shared look of every figure and deterministic PNG encoding (matplotlib Agg, no pyplot).

Figures are drawn on a plain `matplotlib.figure.Figure` with the Agg canvas: no display, no
global pyplot state. The PNG carries no software tag or timestamp, so one report always gives
the same bytes (with the same matplotlib and Pillow); it is quantised to a palette, which
keeps it small for an agent's context.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDTH_PX = 800
HEIGHT_PX = 600
DPI = 100
PALETTE_COLOURS = 64
"""Colours kept when the PNG is quantised (text stays legible; size drops ~3x)."""
TITLE_SIZE = 13
LABEL_SIZE = 11
TEXT_SIZE = 9

RELATION_COLOURS = {
    "same": "#1b9e77",
    "child": "#d95f02",
    "parent": "#7570b3",
    "part-of-polysemantic": "#e7298a",
    "related": "#66a61e",
    "none": "#999999",
}
GROUP_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
MUTED = "#bbbbbb"

_RENDER_LOCK = threading.Lock()
"""Text rendering in matplotlib is not guaranteed thread-safe: one figure at a time."""


@dataclass(frozen=True)
class FigureImage:
    """A rendered figure: PNG bytes, its pixel size and a one-line caption naming what is drawn."""

    kind: str
    png: bytes
    width: int
    height: int
    caption: str


def new_figure() -> Figure:
    """An 800x600 figure on the Agg canvas."""
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure) -> bytes:
    """Deterministic PNG bytes of `fig`: fixed size and dpi, no metadata, palette colours.

    The canvas's pixels go straight to Pillow (matplotlib's own PNG writer would compress a
    full-colour image first, then Pillow again): one encode of a 64-colour palette image.
    """
    from PIL import Image

    canvas = fig.canvas
    canvas.draw()
    rgba = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    palette = rgba.convert("RGB").quantize(
        colors=PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    out = io.BytesIO()
    palette.save(out, format="PNG")
    return out.getvalue()


def render(kind: str, draw, caption: str) -> FigureImage:
    """Draw with `draw(fig)` under the render lock and encode the result."""
    with _RENDER_LOCK:
        fig = new_figure()
        draw(fig)
        png = to_png(fig)
    return FigureImage(kind=kind, png=png, width=WIDTH_PX, height=HEIGHT_PX, caption=caption)


def short_tokens(tokens: list[str], n: int = 2, width: int = 34) -> str:
    """The first `n` tokens joined, cut to `width` characters."""
    text = ", ".join(tokens[:n])
    return text if len(text) <= width else text[: width - 1] + "\u2026"
