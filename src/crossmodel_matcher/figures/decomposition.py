"""The parts of a find_decomposition report as stacked shares, with their distinctive tokens.

With activations, each part's share is the R^2 it adds (`explained_variance_steps`), stacked up
to the report's total R^2; the rest is left unexplained. The report carries no per-part share
of activation mass yet, so that is what is drawn. Without activations (or for a wide feature's
parents) each part is drawn by its weighted token overlap instead, and the axis says so.
"""

from __future__ import annotations

from crossmodel_matcher.figures.style import (
    GROUP_COLOURS,
    LABEL_SIZE,
    MUTED,
    TEXT_SIZE,
    TITLE_SIZE,
    FigureImage,
    render,
    short_tokens,
)
from crossmodel_matcher.schemas import DecompositionReport

KIND = "decomposition"
MAX_DRAWN = 12


def _shares(report: DecompositionReport) -> tuple[list[float], str, bool]:
    """Per-part bar lengths, the axis label, and whether they stack to R^2."""
    parts = report.parts[:MAX_DRAWN]
    steps = report.explained_variance_steps
    if steps and len(steps) >= len(parts) and report.explained_variance is not None:
        shares = [steps[0]] + [b - a for a, b in zip(steps, steps[1:])]
        return [max(s, 0.0) for s in shares[: len(parts)]], "R\u00b2 of the feature's activations added by each part", True
    return [p.evidence.weighted_overlap for p in parts], "weighted token overlap with the feature", False


def decomposition_bars(report: DecompositionReport) -> FigureImage:
    """One stacked bar of the parts' shares, then one row per part with its tokens (800x600 PNG)."""
    parts = report.parts[:MAX_DRAWN]
    shares, axis_label, stacked = _shares(report)

    def draw(fig) -> None:
        fig.text(0.03, 0.95, _title(report), fontsize=TITLE_SIZE, va="top")
        fig.text(0.03, 0.905, _subtitle(report), fontsize=TEXT_SIZE, va="top", color="#444444")
        fig.text(0.03, 0.875, _legend_line(report), fontsize=TEXT_SIZE, va="top", color="#444444")
        top = fig.add_axes((0.1, 0.72, 0.85, 0.07))
        _stacked(top, parts, shares, stacked)
        rows = fig.add_axes((0.1, 0.08, 0.34, 0.54))
        _rows(rows, parts, shares, axis_label, report.direction == "wide_to_narrow")

    return render(KIND, draw, _caption(report))


def _colour(group: int) -> str:
    return GROUP_COLOURS[group % len(GROUP_COLOURS)]


def _stacked(ax, parts, shares, stacked: bool) -> None:
    left = 0.0
    for part, share in zip(parts, shares):
        width = share if stacked else share / max(sum(shares), 1e-9)
        ax.barh(0, width, left=left, color=_colour(part.group), edgecolor="white", height=0.8)
        if width > 0.035:
            ax.text(left + width / 2, 0, str(part.feature), ha="center", va="center", fontsize=TEXT_SIZE, color="white")
        left += width
    if stacked:
        ax.barh(0, max(1.0 - left, 0.0), left=left, color=MUTED, height=0.8)
        ax.text(min(left + 0.01, 0.95), 0, "unexplained", va="center", fontsize=TEXT_SIZE, color="#333333")
    ax.set_xlim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel(
        "share of the feature's activation variance (R\u00b2)" if stacked else "share of the parts' token overlap",
        fontsize=TEXT_SIZE,
    )
    ax.tick_params(labelsize=TEXT_SIZE)


def _rows(ax, parts, shares, axis_label: str, parents: bool) -> None:
    n = len(parts)
    ys = list(range(n))[::-1]
    ax.barh(ys, shares, color=[_colour(p.group) for p in parts], height=0.7)
    ax.set_yticks(ys, [str(p.feature) for p in parts], fontsize=TEXT_SIZE)
    ax.set_ylim(-0.6, max(n, 1) - 0.4)
    ax.set_xlim(0, max(shares + [0.05]) * 1.1)
    ax.set_xlabel(axis_label, fontsize=TEXT_SIZE)
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.set_ylabel("parent (feature id)" if parents else "part (feature id)", fontsize=LABEL_SIZE)
    for y, part in zip(ys, parts):
        tokens = short_tokens([t.token for t in part.distinctive_tokens], n=3, width=64)
        inside = part.evidence.target_given_source if parents else part.evidence.source_given_target
        where = f"  {inside:.0%} {'of the feature inside' if parents else 'inside'}" if inside is not None else ""
        ax.text(1.03, y, f"group {part.group}{where}:\n{tokens}", transform=ax.get_yaxis_transform(),
                va="center", fontsize=TEXT_SIZE, clip_on=False)
    if not parts:
        ax.text(0.5, 0.5, "no parts: nothing in the other model makes up this feature",
                transform=ax.transAxes, ha="center", fontsize=LABEL_SIZE)


def _legend_line(report: DecompositionReport) -> str:
    if report.direction == "wide_to_narrow":
        return "feature inside: share of the feature's firings where the parent fires"
    return "group: concept group (parts of one group refine one concept); inside: share of the part's firings where the feature fires"


def _title(report: DecompositionReport) -> str:
    label = f" \u2014 {report.label}" if report.label else ""
    verdict = report.verdict.replace("_", " ")
    if report.direction == "wide_to_narrow":
        return f"{report.model} {report.feature}{label}: its parents in {report.other_model} ({verdict})"
    return f"{report.model} {report.feature}{label}: {verdict} into {report.other_model}"


def _subtitle(report: DecompositionReport) -> str:
    r2 = f"R\u00b2 {report.explained_variance:.2f}, " if report.explained_variance is not None else ""
    n = len(report.parts)
    what = "parent" if report.direction == "wide_to_narrow" else "part"
    return (
        f"{n} {what}{'s' if n != 1 else ''}, {r2}token coverage {report.token_coverage:.0%}, "
        f"{report.n_groups} concept group{'s' if report.n_groups != 1 else ''}"
    )


def _caption(report: DecompositionReport) -> str:
    ids = ", ".join(map(str, report.part_ids[:MAX_DRAWN])) or "none"
    r2 = f", R^2 {report.explained_variance:.2f}" if report.explained_variance is not None else ""
    return (
        f"Decomposition of {report.model} {report.feature} ({report.verdict}{r2}): "
        f"{report.other_model} parts {ids} as stacked shares with their distinctive tokens."
    )
