"""The whole pair at a glance, from a pair_alignment report: counterparts, verdicts, split sizes."""

from __future__ import annotations

from crossmodel_matcher.figures.style import (
    LABEL_SIZE,
    MUTED,
    RELATION_COLOURS,
    TEXT_SIZE,
    TITLE_SIZE,
    FigureImage,
    render,
)
from crossmodel_matcher.schemas import AlignmentSummary

KIND = "overview"
VERDICT_COLOURS = {
    "one_to_one": RELATION_COLOURS["same"],
    "split": RELATION_COLOURS["child"],
    "polysemantic": RELATION_COLOURS["part-of-polysemantic"],
    "no_counterpart": MUTED,
}


def pair_overview(report: AlignmentSummary) -> FigureImage:
    """Three panels: each model's features by counterpart, narrow verdicts, split sizes (800x600)."""

    def draw(fig) -> None:
        fig.text(0.03, 0.96, "The pair at a glance", fontsize=TITLE_SIZE, va="top")
        _sides(fig.add_axes((0.1, 0.62, 0.85, 0.26)), report)
        _verdicts(fig.add_axes((0.1, 0.09, 0.33, 0.4)), report)
        _splits(fig.add_axes((0.57, 0.09, 0.38, 0.4)), report)

    return render(KIND, draw, _caption(report))


def _sides(ax, report: AlignmentSummary) -> None:
    segments = [
        ("same counterpart", RELATION_COLOURS["same"]),
        ("other counterpart", RELATION_COLOURS["child"]),
        ("no counterpart", "#dddddd"),
        ("dead", "#777777"),
    ]
    names = [s.model for s in report.models]
    for y, side in zip(range(len(names) - 1, -1, -1), report.models):
        same = round(side.share_with_same * side.n_live)
        values = [same, side.n_with_counterpart - same, side.n_unique, side.n_dead]
        left = 0.0
        for (label, colour), value in zip(segments, values):
            share = value / side.n_features if side.n_features else 0.0
            ax.barh(y, share, left=left, color=colour, label=label if y == 0 else None, height=0.6)
            if share > 0.06:
                ax.text(left + share / 2, y, f"{value:,}", ha="center", va="center", fontsize=TEXT_SIZE)
            left += share
    labels = [f"{s.model}\n{s.n_features:,}" for s in report.models][::-1]
    ax.set_yticks(range(len(names)), labels, fontsize=TEXT_SIZE)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the model's features", fontsize=TEXT_SIZE)
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=TEXT_SIZE, frameon=False)


def _verdicts(ax, report: AlignmentSummary) -> None:
    order = [v for v in VERDICT_COLOURS if v in report.verdict_counts]
    order += sorted(v for v in report.verdict_counts if v not in VERDICT_COLOURS)
    counts = [report.verdict_counts[v] for v in order]
    ax.bar(range(len(order)), counts, color=[VERDICT_COLOURS.get(v, MUTED) for v in order])
    ax.set_xticks(range(len(order)), [v.replace("_", " ") for v in order], fontsize=TEXT_SIZE, rotation=15)
    for x, c in enumerate(counts):
        ax.text(x, c, f"{c:,}", ha="center", va="bottom", fontsize=TEXT_SIZE)
    narrow = report.narrow_model or "narrow"
    ax.set_title(f"decomposition verdicts of live {narrow} features", fontsize=LABEL_SIZE)
    ax.set_ylabel("features", fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TEXT_SIZE)
    ax.margins(y=0.12)


def _splits(ax, report: AlignmentSummary) -> None:
    sizes = sorted(report.split_size_histogram, key=int)
    counts = [report.split_size_histogram[s] for s in sizes]
    ax.bar([int(s) for s in sizes], counts, color=RELATION_COLOURS["child"], width=0.8)
    ax.set_title("split features by number of parts", fontsize=LABEL_SIZE)
    ax.set_xlabel("parts (refinements in the wide model)", fontsize=TEXT_SIZE)
    ax.set_ylabel("split features", fontsize=LABEL_SIZE)
    if sizes:
        ax.set_xticks([int(s) for s in sizes])
    ax.tick_params(labelsize=TEXT_SIZE)


def _caption(report: AlignmentSummary) -> str:
    sides = "; ".join(
        f"{s.model}: {s.share_with_counterpart:.0%} of {s.n_live:,} live features have a counterpart"
        for s in report.models
    )
    n_split = sum(report.split_size_histogram.values())
    return f"Pair overview: {sides}; {n_split:,} split and {report.n_polysemantic:,} polysemantic narrow features."
