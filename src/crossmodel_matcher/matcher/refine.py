"""Counterparts and refinements of a feature by the relation rule, for find_decomposition.

A narrow feature's wide counterparts split into `same` ones (the whole concept) and
refinements (wide features typed `child`: they lie inside it); a wide feature's narrow
parents are the features typed `parent` or `same` from its side. Both come from the one
relation table of the query (relate.RelationTable), so find_decomposition agrees with
find_matches and compare_features.
"""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.matcher import relations as rel
from crossmodel_matcher.matcher.tokens import distinctive_tokens
from crossmodel_matcher.rules import BRIEF_TOKENS, READING_MAX_IDS
from crossmodel_matcher.schemas import DecompositionReport, Refinement


def linked(cs) -> tuple[list[int], list[int], list[int]]:
    """Same counterparts (best correlation first), children and parents (largest mass first)."""
    if cs.relations is None:
        return [], [], []
    pos, codes = cs.relations.linked()
    ts, st = cs.relations.masses(pos)
    corr = cs.correlation[pos]
    ids = pos if cs.target_ids is None else cs.target_ids[pos]
    same = [int(ids[i]) for i in np.lexsort((ids, -corr)) if codes[i] == rel.SAME]
    kids = [int(ids[i]) for i in np.lexsort((ids, -ts)) if codes[i] == rel.CHILD]
    parents = [int(ids[i]) for i in np.lexsort((ids, -st)) if codes[i] == rel.PARENT]
    return same, kids, parents


def refinement_items(tgt, cs, ids: list[int]) -> list[Refinement]:
    """Refinement records (mass share, inside share, correlation, tokens) of wide ids."""
    if not ids or cs.relations is None:
        return []
    pos = np.asarray(ids, dtype=np.int64)  # full candidate arrays: position = id
    ts, st = cs.relations.masses(pos)
    return [
        Refinement(
            feature=int(j),
            label=tgt.label(int(j)),
            mass_share=round(float(ts[k]), 6),
            inside=round(float(st[k]), 6),
            correlation=round(float(cs.correlation[j]), 6),
            distinctive_tokens=distinctive_tokens(tgt, int(j), BRIEF_TOKENS),
        )
        for k, j in enumerate(ids)
    ]


def add_refinements(report: DecompositionReport, tgt, cs, kids: list[int]) -> None:
    """Name the wide features that refine a narrow feature (relation child) in its report."""
    if not kids:
        return
    report.refinements = refinement_items(tgt, cs, kids)
    report.refinement_ids = kids
    shown = kids[:READING_MAX_IDS]
    share = sum(r.mass_share for r in report.refinements)
    if report.verdict == "one_to_one":
        report.verdict_reason += (
            f"; {tgt.name} also refines it: {len(kids)} features lie inside it, each on part of its examples"
        )
        report.reading = report.reading.rstrip(".") + (
            f". Refined in {tgt.name} as well: {len(kids)} features inside it (their examples hold "
            f"{share:.0%} of its activation mass, counted with overlaps): {shown}."
        )
    else:
        report.reading += f" Refinements (features inside it): {shown}."
    report.evidence_record.key_metrics["n_refinements"] = float(len(kids))


def add_siblings(report: DecompositionReport, tgt, parent: int, siblings: list[int]) -> None:
    """Name a wide feature's siblings: the other refinements of its parent."""
    if siblings:
        report.sibling_ids = siblings
        report.reading += (
            f" Siblings (other refinements of {tgt.name} {parent}): {siblings[:READING_MAX_IDS]}."
        )
