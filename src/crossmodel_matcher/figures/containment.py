"""The containment plane of a find_matches report: where each candidate lies against the source.

x: share of the source's activation mass where the candidate fires (how much of A lies in B);
y: share of the candidate's activation mass where the source fires (how much of B lies in A).
A candidate whose mass was not measured (it shares under 20% of either's firings, so it lies
inside neither) is drawn at its share of firings. The 60% lines of the relation rule mark
"inside"; the colour is the relation (same also needs correlation >= 0.7, parent / child shared
tokens). Points are sized by co-firing count.
"""

from __future__ import annotations

import math

from matplotlib.text import Text
from matplotlib.transforms import Bbox

from crossmodel_matcher.figures.style import (
    LABEL_SIZE,
    RELATION_COLOURS,
    TEXT_SIZE,
    TITLE_SIZE,
    FigureImage,
    render,
    short_tokens,
)
from crossmodel_matcher.rules import INSIDE_MIN_MASS
from crossmodel_matcher.schemas import Match, MatchReport

KIND = "containment"
MAX_LABELLED = 5
"""Points named on the plane: counterparts first (always named), then the best-ranked others
while fewer than MIN_LABELLED are named (only where a label fits clear of the rest)."""
MIN_LABELLED = 3
_OFFSETS = [(dx, dy) for dy in (10, -30, 40, -60, 70, -90, 100, -120, 130, -150) for dx in (12, -12)]
"""Label positions tried in turn (points from the dot) until one is inside the axes and covers
no dot and no earlier label; failing that, the first inside the axes."""


def _axes_of(report: MatchReport) -> tuple[str, str, str, str, bool]:
    """The two numbers drawn: containment both ways, or token overlaps without activations."""
    have = any(m.evidence.target_given_source is not None for m in report.matches)
    if have:
        src, tgt = f"{report.source_model} {report.source_feature}", report.target_model
        return (
            "target_mass_given_source",
            "source_mass_given_target",
            f"share of {src}'s activation mass where the {tgt} feature fires (A in B)",
            f"share of the {tgt} feature's activation mass where {src} fires (B in A)",
            True,
        )
    return ("jaccard", "weighted_overlap", "token Jaccard (top-50 sets)", "weighted token overlap", False)


_COUNT_OF = {"target_mass_given_source": "target_given_source", "source_mass_given_target": "source_given_target"}


def _value(m: Match, field: str) -> float:
    """The point's coordinate: the mass share, else (not measured) the share of firings."""
    value = getattr(m.evidence, field)
    if value is None and field in _COUNT_OF:
        value = getattr(m.evidence, _COUNT_OF[field])
    return value or 0.0


def _size(m: Match, top: float) -> float:
    count = m.evidence.cofire_count
    if count is None or top <= 0:
        return 60.0
    return 30.0 + 470.0 * math.sqrt(count / top)


def _labelled(report: MatchReport) -> list[tuple[Match, bool]]:
    """(match, must be named): counterparts first, then the best-ranked others."""
    counterparts = set(report.counterpart_ids)
    named = [(m, True) for m in report.matches if m.target_feature in counterparts][:MAX_LABELLED]
    others = [m for m in report.matches if m.target_feature not in counterparts]
    return named + [(m, False) for m in others[: max(MIN_LABELLED - len(named), 0)]]


def _draw_regions(ax, contained: bool) -> None:
    if not contained:
        return
    t = INSIDE_MIN_MASS
    ax.axvline(t, color="#888888", lw=1, ls="--")
    ax.axhline(t, color="#888888", lw=1, ls="--")
    style = {"fontsize": TEXT_SIZE, "color": "#666666", "style": "italic"}
    ax.text(1.0, 1.0, "inside each other", ha="right", va="top", **style)
    ax.text(1.0, 0.02, "A inside B\n(parent, or same)", ha="right", va="bottom", **style)
    ax.text(0.02, 1.0, "B inside A\n(child, or same)", ha="left", va="top", **style)
    ax.text(0.02, 0.02, "neither inside the other", ha="left", va="bottom", **style)


def containment_plane(report: MatchReport) -> FigureImage:
    """The candidates of one feature on the containment plane (800x600 PNG)."""
    xf, yf, xlabel, ylabel, contained = _axes_of(report)
    top = max((m.evidence.cofire_count or 0 for m in report.matches), default=0)

    def draw(fig) -> None:
        ax = fig.add_axes((0.1, 0.1, 0.6, 0.8))
        _draw_regions(ax, contained)
        seen: set[str] = set()
        for m in sorted(report.matches, key=lambda m: -m.rank):
            rel = m.evidence.relation
            ax.scatter(
                _value(m, xf),
                _value(m, yf),
                s=_size(m, top),
                color=RELATION_COLOURS[rel],
                alpha=0.8,
                edgecolors="black" if m.target_feature in report.counterpart_ids else "white",
                linewidths=1.2,
                label=rel if rel not in seen else None,
                zorder=3,
            )
            seen.add(rel)
        ax.set_xlim(-0.02, 1.05)
        ax.set_ylim(-0.02, 1.05)
        _label_points(fig, ax, report, xf, yf)
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
        ax.set_title(_title(report), fontsize=TITLE_SIZE, loc="left")
        ax.legend(
            title="relation",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=TEXT_SIZE,
            title_fontsize=TEXT_SIZE,
            markerscale=0.6,
            frameon=False,
        )
        fig.text(0.725, 0.12, _side_note(report), fontsize=TEXT_SIZE, va="bottom")

    return render(KIND, draw, _caption(report))


def _dot_box(ax, m: Match, xf: str, yf: str) -> Bbox:
    x, y = ax.transData.transform((_value(m, xf), _value(m, yf)))
    r = 4.0
    return Bbox.from_extents(x - r, y - r, x + r, y + r)


def _label_points(fig, ax, report: MatchReport, xf: str, yf: str) -> None:
    """Name the points that matter, each label inside the axes and clear of earlier labels."""
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = [_dot_box(ax, m, xf, yf) for m in report.matches]  # labels cover no dot either
    for m, must in _labelled(report):
        tokens = short_tokens([t.token for t in m.shared_tokens])
        point = (_value(m, xf), _value(m, yf))
        boxes = []
        for offset in [*_OFFSETS, *_open_offsets(fig, ax, point, frame)]:
            ann = _annotate(ax, m, point, offset, tokens)
            ann.update_positions(renderer)
            box = Text.get_window_extent(ann, renderer).padded(3)  # the label, not its arrow
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            clear = inside and not any(box.overlaps(other) for other in placed)
            ann.remove()
            if clear:
                boxes = [(offset, box)]
                break
            if inside and not boxes:
                boxes.append((offset, box))
        clear_found = bool(boxes) and not any(boxes[0][1].overlaps(o) for o in placed)
        if not (must or clear_found):
            continue  # an optional label that would cover others is left out
        offset, box = boxes[0] if boxes else (_OFFSETS[0], None)
        _annotate(ax, m, point, offset, tokens)
        if box is not None:
            placed.append(box)


def _open_offsets(fig, ax, point: tuple[float, float], frame: Bbox) -> list[tuple[int, int]]:
    """Farther label positions over the whole plane, nearest first: tried when no near one is clear."""
    px, py = ax.transData.transform(point)
    per_pixel = 72.0 / fig.dpi
    spots = [
        (frame.x0 + fx * frame.width, frame.y0 + fy * frame.height)
        for fx in (0.05, 0.15, 0.25, 0.35, 0.45, 0.55)
        for fy in (0.08, 0.16, 0.24, 0.32, 0.40, 0.48, 0.56, 0.64, 0.72, 0.80, 0.88)
    ]
    spots.sort(key=lambda xy: (xy[0] - px) ** 2 + (xy[1] - py) ** 2)
    return [(round((x - px) * per_pixel), round((y - py) * per_pixel)) for x, y in spots]


def _annotate(ax, m: Match, point: tuple[float, float], offset: tuple[int, int], tokens: str):
    return ax.annotate(
        f"{m.target_feature} ({m.evidence.relation})\n{tokens}",
        point,
        xytext=offset,
        textcoords="offset points",
        ha="left" if offset[0] > 0 else "right",
        fontsize=TEXT_SIZE,
        arrowprops={"arrowstyle": "-", "color": "#555555", "lw": 0.8},
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#cccccc", "alpha": 0.9},
        zorder=4,
    )


def _title(report: MatchReport) -> str:
    label = f" \u2014 {report.source_label}" if report.source_label else ""
    return f"{report.source_model} {report.source_feature}{label}: its top {len(report.matches)} {report.target_model} candidates"


def _side_note(report: MatchReport) -> str:
    lines = [
        f"A = {report.source_model} {report.source_feature}",
        f"B = a {report.target_model} candidate",
        "black edge: counterpart",
        "dot size: co-firing examples",
        "",
    ]
    if report.source_dead:
        lines.append("A never fires.")
    elif report.counterpart_ids:
        lines.append("counterparts:")
        lines += [f"  {fid}" for fid in report.counterpart_ids[:8]]
    else:
        lines.append(f"no counterpart in {report.target_model}")
    return "\n".join(lines)


def _caption(report: MatchReport) -> str:
    rels: dict[str, list[int]] = {}
    for m in report.matches:
        if m.target_feature in report.counterpart_ids:
            rels.setdefault(m.evidence.relation, []).append(m.target_feature)
    found = "; ".join(f"{rel} {', '.join(map(str, ids))}" for rel, ids in rels.items()) or "no counterpart"
    return (
        f"Containment plane of {report.source_model} {report.source_feature}: its top "
        f"{len(report.matches)} {report.target_model} candidates by relation ({found})."
    )
