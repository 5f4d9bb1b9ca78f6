"""The one relation rule (matcher/relations.py) on hand-worked numbers, and its agreement
across tools on the tiny pair (see conftest.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossmodel_matcher.matcher import relations as rel
from crossmodel_matcher.rules import INSIDE_MIN_MASS, RELATION_POOL_SIZE, SAME_MIN_CORRELATION


def csc(columns: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-compressed arrays of columns given as {example: activation}."""
    indptr, indices, data = [0], [], []
    for col in columns:
        for i in sorted(col):
            indices.append(i)
            data.append(col[i])
        indptr.append(len(indices))
    return np.array(indptr), np.array(indices), np.array(data, dtype=np.float32)


def test_mass_containment_by_hand():
    # Source fires on examples 0..3 with 4, 3, 2, 1 (mass 10). Target 0 fires on 0, 1 (its
    # two strongest) and on 5 (outside): 7/10 of the source's mass lies where it fires, and
    # (2 + 2) / (2 + 2 + 1) of its own mass where the source fires. Target 1 never fires.
    indptr, indices, data = csc([{0: 2.0, 1: 2.0, 5: 1.0}, {}])
    t_s, s_t = rel.mass_containment(
        np.array([0, 1, 2, 3]), np.array([4.0, 3.0, 2.0, 1.0]), 6, indptr, indices, data, np.array([0, 1])
    )
    assert t_s == pytest.approx([0.7, 0.0])
    assert s_t == pytest.approx([0.8, 0.0])


def test_a_threshold_gap_is_not_a_split():
    # A TopK latent that keeps only the source's 5 strongest of 10 firings: it fires on half of
    # the source's examples (a count rule at 60% calls it a child), but those hold most of the
    # source's activation mass and the two correlate: the same feature.
    src = np.array([10, 9, 8, 7, 6, 1, 1, 1, 1, 1], dtype=float)
    tgt = np.where(np.arange(10) < 5, src, 0.0)
    x = np.concatenate([src, np.zeros(90)])
    y = np.concatenate([tgt, np.zeros(90)])
    corr = float(np.corrcoef(x, y)[0, 1])
    t_s = tgt.sum() / src.sum()  # 40 / 45 of the source's mass where the target fires
    assert corr >= SAME_MIN_CORRELATION and t_s >= INSIDE_MIN_MASS
    codes = rel.relation_codes([corr], [t_s], [1.0], [True], [True], [True])
    assert rel.CODES[codes[0]] == "same"


def test_child_parent_related_none():
    corr = [0.3, 0.3, 0.3, 0.3, 0.3, 0.9]
    t_s = [0.2, 0.9, 0.2, 0.2, 0.2, 0.9]  # share of the source's mass where the target fires
    s_t = [0.9, 0.3, 0.9, 0.9, 0.1, 0.9]  # share of the target's mass where the source fires
    eligible = [True, True, True, False, True, True]
    above = [True, True, False, True, True, True]
    tokens = [True, True, True, True, True, False]
    got = [rel.CODES[c] for c in rel.relation_codes(corr, t_s, s_t, eligible, above, tokens)]
    # inside the source: child; source inside it: parent; not above chance: none; no count
    # containment: no containment relation; neither inside: related; correlated and inside
    # each other: same (tokens are not needed for same).
    assert got == ["child", "parent", "none", "related", "related", "same"]
    no_tokens = rel.relation_codes([0.3], [0.2], [0.9], [True], [True], [False])
    assert rel.CODES[no_tokens[0]] == "related"  # inside, but shares no distinctive tokens


def test_relation_pool_keeps_the_most_contained():
    n = RELATION_POOL_SIZE + 10
    corr = np.full(n + 2, 0.5)
    t_s = np.concatenate([np.linspace(0.3, 0.9, n), [0.1, 0.9]])
    s_t = np.zeros(n + 2)
    corr[-1] = -0.1  # contained but anti-correlated: never in the pool
    pool = rel.relation_pool(corr, t_s, s_t)
    assert len(pool) == RELATION_POOL_SIZE
    assert pool[0] == n - 1 and n not in pool and n + 1 not in pool
    assert list(t_s[pool]) == sorted(t_s[pool], reverse=True)


def test_relation_numbers_by_hand_on_the_tiny_pair(tiny):
    # narrow 1 = [0,1,0,2,0,1,0,0,1,0], wide 1 = [0,0,0,3,0,2,0,0,0,0] over e0..e9:
    # cov = 8/10 - 0.25 = 0.55, var = 0.45 and 1.05; 3 of narrow 1's mass 5 lies on e3, e5.
    ev = tiny.compare_features("narrow", 1, 1).evidence
    assert ev.activation_correlation == pytest.approx(0.55 / math.sqrt(0.45 * 1.05), abs=1e-5)
    assert ev.target_mass_given_source == pytest.approx(0.6)
    assert ev.source_mass_given_target == pytest.approx(1.0)
    assert ev.target_given_source == pytest.approx(0.5)  # a count rule at 60% said "child"
    assert ev.relation == "same" and "correlation 0.80" in ev.relation_reason


def test_every_tool_uses_the_one_rule(tiny):
    # The same pair gets the same relation from find_matches, compare_features and
    # find_decomposition, and the unique listing is exactly the features with no counterpart.
    for src, other in (("narrow", "wide"), ("wide", "narrow")):
        n_src = tiny.pair.model(src).n_features
        n_tgt = tiny.pair.model(other).n_features
        unique = set(tiny.list_unique_features(src).feature_ids)
        for f in range(n_src):
            rep = tiny.find_matches(src, f, top_n=n_tgt)
            for m in rep.matches:
                assert tiny.compare_features(src, f, m.target_feature).evidence.relation == m.evidence.relation
            if not tiny.pair.model(src).dead[f]:
                assert (f in unique) == (not rep.has_counterpart)
    child = tiny.find_decomposition("wide", 2)
    assert child.parent_ids[:1] == [1] and child.verdict == "split"
    assert tiny.find_matches("wide", 2).matches[0].evidence.relation == "parent"
