"""One self-contained HTML page about a feature: card, matches, figures, evidence (no scripts).

Built from reports and rendered figures only; images are embedded as data URIs, styles inline,
so the file can be mailed or opened offline. Every value is HTML-escaped.
"""

from __future__ import annotations

import base64
import json
from html import escape

from crossmodel_matcher.figures.style import FigureImage
from crossmodel_matcher.schemas import (
    DecompositionReport,
    FeatureSummary,
    MatchReport,
    PairInfo,
    TokenWeight,
)

CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1040px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 4px; } h2 { font-size: 1.15em; margin-top: 28px; }
.muted { color: #666; } .reading { background: #f4f6f8; padding: 8px 12px; border-radius: 4px; }
table { border-collapse: collapse; font-size: 0.88em; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.card { display: grid; grid-template-columns: repeat(4, auto); gap: 4px 20px; width: max-content; }
.tokens { font-family: ui-monospace, monospace; font-size: 0.85em; }
figure { margin: 16px 0; } figcaption { color: #444; font-size: 0.9em; max-width: 800px; }
img.figure { display: block; border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 8px; font-size: 0.82em; overflow-x: auto; }
"""


def _tokens(tokens: list[TokenWeight], n: int = 12) -> str:
    return ", ".join(escape(t.token) for t in tokens[:n]) or "<span class='muted'>none</span>"


def _num(value: float | int | None, fmt: str = "{:.2f}") -> str:
    return "<td class='num'>&ndash;</td>" if value is None else f"<td class='num'>{fmt.format(value)}</td>"


def _card(summary: FeatureSummary) -> str:
    label = escape(summary.label) if summary.label else "<span class='muted'>no label</span>"
    cells = [
        ("label", label),
        ("dead", "yes" if summary.dead else "no"),
        ("fires on", f"{summary.firing_rate:.2%} of examples ({summary.fire_count:,})"),
        ("activation", f"max {summary.max_activation:.3g}, mean {summary.mean_activation:.3g} where it fires"),
    ]
    grid = "".join(f"<div class='muted'>{k}</div><div>{v}</div>" for k, v in cells)
    return (
        f"<div class='card'>{grid}</div>"
        f"<p><b>Top tokens</b> (count in its top 10% of examples): <span class='tokens'>{_tokens(summary.top_tokens)}</span></p>"
        f"<p><b>Distinctive tokens</b> (lift-weighted): <span class='tokens'>{_tokens(summary.distinctive_tokens)}</span></p>"
    )


def _matches_table(report: MatchReport) -> str:
    head = (
        "<tr><th>#</th><th>" + escape(report.target_model) + "</th><th>relation</th><th>calibrated</th>"
        "<th>match</th><th>corr.</th><th>A in B</th><th>B in A</th><th>Jaccard</th><th>shared tokens</th></tr>"
    )
    rows = []
    for m in report.matches:
        e = m.evidence
        mark = " &#9733;" if m.target_feature in report.counterpart_ids else ""
        rows.append(
            f"<tr><td class='num'>{m.rank}</td><td class='num'>{m.target_feature}{mark}</td>"
            f"<td>{escape(e.relation)}</td><td>{escape(e.calibrated_band)}</td>"
            + _num(e.match_score) + _num(e.activation_correlation) + _num(e.target_given_source, "{:.0%}")
            + _num(e.source_given_target, "{:.0%}") + _num(e.jaccard)
            + f"<td class='tokens'>{_tokens(m.shared_tokens, 4)}</td></tr>"
        )
    note = (
        "<p class='muted'>&#9733; counterpart (above chance, in a containment relation). "
        f"A = {escape(report.source_model)} {report.source_feature}, B = the {escape(report.target_model)} "
        "feature; A in B: share of A's firings where B fires.</p>"
    )
    return f"<table>{head}{''.join(rows)}</table>{note}"


def _figure(image: FigureImage) -> str:
    data = base64.b64encode(image.png).decode("ascii")
    return (
        f"<figure id='figure-{escape(image.kind)}'><img class='figure' src='data:image/png;base64,{data}' "
        f"width='{image.width}' height='{image.height}' alt='{escape(image.caption)}'>"
        f"<figcaption>{escape(image.caption)} ({len(image.png) / 1000:.0f} KB)</figcaption></figure>"
    )


def _evidence(matches: MatchReport, decomposition: DecompositionReport) -> str:
    record = {
        "best_match": matches.evidence_record.model_dump() if matches.evidence_record else None,
        "decomposition": decomposition.evidence_record.model_dump(),
    }
    return f"<pre>{escape(json.dumps(record, indent=2))}</pre>"


def report_page(
    summary: FeatureSummary,
    matches: MatchReport,
    decomposition: DecompositionReport,
    figures: list[FigureImage],
    pair: PairInfo | None = None,
) -> str:
    """The whole page as one HTML string."""
    name = f"{summary.model} {summary.feature}"
    pair_line = f"<p class='muted'>Pair: {escape(pair.description)}</p>" if pair else ""
    sections = [
        f"<h1>{escape(name)}</h1>{pair_line}",
        f"<h2>Feature card</h2>{_card(summary)}",
        f"<h2>Matches in {escape(matches.target_model)}</h2>"
        f"<p class='reading'>{escape(matches.reading)}</p>{_matches_table(matches)}",
        f"<h2>Decomposition: {escape(decomposition.verdict)}</h2>"
        f"<p class='reading'>{escape(decomposition.reading)}</p>",
        "<h2>Figures</h2>" + "".join(_figure(f) for f in figures),
        "<h2>Evidence record</h2><p class='muted'>Ready for a research-state file.</p>"
        + _evidence(matches, decomposition),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(name)} \u2014 crossmodel-matcher report</title><style>{CSS}</style></head>"
        f"<body>{''.join(sections)}</body></html>\n"
    )
