"""Prose and research-state records of the reports: one-line readings and evidence records.

Only text is made here; every number comes in already computed."""

from __future__ import annotations

from crossmodel_matcher.rules import (
    DECOMPOSITION_MODERATE,
    DECOMPOSITION_STRONG,
    LINKED_RELATIONS,
    READING_MAX_COUNTERPARTS,
    READING_MAX_IDS,
)
from crossmodel_matcher.schemas import EvidenceRecord, Match, PairEvidence
from crossmodel_matcher.tables import ModelTables

RELATION_MEANING = {
    "same": "the same feature",
    "parent": "broader than the source (a parent)",
    "child": "a refinement of the source (a child)",
    "part-of-polysemantic": "one of the unrelated parts of a polysemantic narrow feature",
    "related": "related, neither contains the other",
    "none": "no relation above chance",
}


def match_reading(target_model: str, target: int, ev: PairEvidence) -> str:
    parts = [f"{target_model} {target}: calibrated band {ev.calibrated_band.value}"]
    parts.append(f"combined score {ev.combined_score:.2f} ({ev.score_band.value})")
    parts.append(f"token Jaccard {ev.jaccard:.2f} ({ev.overlap_band.value})")
    parts.append(f"weighted overlap {ev.weighted_overlap:.2f}")
    if ev.activation_correlation is not None:
        parts.append(f"correlation {ev.activation_correlation:.2f}")
        parts.append(
            f"fires on {ev.target_given_source:.0%} of the source's examples, "
            f"the source on {ev.source_given_target:.0%} of its"
        )
    if ev.target_mass_given_source is not None:
        parts.append(
            f"{ev.target_mass_given_source:.0%} of the source's activation mass lies where it "
            f"fires, {ev.source_mass_given_target:.0%} of its own where the source fires"
        )
    text = f"{', '.join(parts)}: {RELATION_MEANING[ev.relation]}."
    if ev.calibrated_band.value == "chance" and ev.overlap_band.value != "weak":
        text += (
            f" The original bands call the token overlap {ev.overlap_band.value}, but random "
            "candidates reach it too (shared tokens are common ones): treat it as chance."
        )
    return text


def report_reading(
    src: ModelTables, f: int, tgt: ModelTables, matches: list[Match], has: bool, dead: bool
) -> str:
    if dead:
        return f"{src.name} {f} never fires in the data: no counterpart can be measured."
    if not matches:
        return f"No candidates in {tgt.name}."
    best = matches[0]
    if not has:
        return (
            f"No counterpart in {tgt.name}: no feature there is the same, contains it or lies "
            f"inside it (relation rule) above chance; the best-scoring candidate "
            f"({best.target_feature}) is {best.evidence.calibrated_band.value}. This feature looks "
            f"unique to {src.name}."
        )
    linked = [m.target_feature for m in matches if m.evidence.relation in LINKED_RELATIONS]
    extra = f" Counterparts among the top {len(matches)}: {linked[:READING_MAX_COUNTERPARTS]}." if linked else ""
    return f"Best match: {best.reading}{extra}"


def evidence_record(src: str, f: int, tgt: str, t: int, ev: PairEvidence) -> EvidenceRecord:
    """The pair as a research-state evidence item with numeric key metrics."""
    metrics = {
        "jaccard": ev.jaccard,
        "weighted_overlap": ev.weighted_overlap,
        "activation_correlation": ev.activation_correlation,
        "containment_target_given_source": ev.target_given_source,
        "containment_source_given_target": ev.source_given_target,
        "combined_score": ev.combined_score,
        "match_score": ev.match_score,
        "null_percentile": ev.null_percentile,
        "p_value": ev.p_value,
        "decoder_cosine": ev.decoder_cosine,
    }
    band = ev.calibrated_band.value
    corr = "n/a" if ev.activation_correlation is None else f"{ev.activation_correlation:.2f}"
    return EvidenceRecord(
        summary=(
            f"Cross-model: {src} {f} vs {tgt} {t}: relation {ev.relation}, calibrated band {band} "
            f"(correlation {corr}, token Jaccard {ev.jaccard:.2f}, weighted overlap "
            f"{ev.weighted_overlap:.2f}, p={ev.p_value:.2g})"
        ),
        strength="weak" if band == "chance" else band,
        key_metrics={k: float(v) for k, v in metrics.items() if v is not None},
    )


def decomposition_reading(
    src: ModelTables, f: int, tgt: ModelTables, parts: list[int], verdict: str, reason: str
) -> str:
    what = "parents" if src.n_features > tgt.n_features else "parts"
    reading = f"{src.name} {f}: {verdict.replace('_', ' ')} - {reason}."
    if parts:
        ids = ", ".join(str(p) for p in parts[:READING_MAX_IDS])
        reading += f" {tgt.name} {what}: [{ids}]."
    return reading


def decomposition_record(
    src: ModelTables, f: int, tgt: ModelTables, parts: list[int], n_groups: int,
    r2: float | None, coverage: float, verdict: str,
) -> EvidenceRecord:
    """The decomposition as a research-state evidence item."""
    what = "parents" if src.n_features > tgt.n_features else "parts"
    r2_text = "n/a" if r2 is None else f"{r2:.2f}"
    strength = "weak"
    if verdict != "no_counterpart":
        level = r2 or coverage
        strength = (
            "strong" if level >= DECOMPOSITION_STRONG else "moderate" if level >= DECOMPOSITION_MODERATE else "weak"
        )
    metrics: dict[str, int | float] = {"token_coverage": round(coverage, 6), "n_parts": len(parts),
                                       "n_groups": n_groups}
    if r2 is not None:
        metrics["explained_variance"] = round(r2, 6)
    return EvidenceRecord(
        summary=f"Cross-model decomposition of {src.name} {f} in {tgt.name}: {verdict}, "
        f"{len(parts)} {what} {parts[:READING_MAX_IDS]}, R^2 {r2_text}, token coverage {coverage:.2f}",
        strength=strength,
        key_metrics=metrics,
    )
