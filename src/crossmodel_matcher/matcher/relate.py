"""The relation rule applied to a loaded pair: mass containment from the stored columns.

`RelationTable` holds, for one source feature, the relation of every candidate it was asked
about; find_matches, compare_features, find_decomposition and the alignment summary (unique
features, counterparts) all read relations through it, so they agree.
"""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.matcher import relations as rel
from crossmodel_matcher.matcher import scores
from crossmodel_matcher.rules import CHANCE_ALPHA, RELATION_MIN_CONTAINMENT
from crossmodel_matcher.tables import ModelTables, PairTables

LINKED_CODES = (rel.SAME, rel.PARENT, rel.CHILD)
Known = tuple[np.ndarray, np.ndarray, np.ndarray]
"""A feature's relation pool: target ids ascending, target mass given source, source mass
given target (matcher/pool_masses.py)."""


class RelationTable:
    """Relations of one source feature to candidate targets (positions into count arrays).

    `corr`, `t_s`, `s_t` are arrays over all candidate positions (correlation, count
    containment); `p_of` / `wov_of` give best-of-N p-values / weighted token overlap at
    positions; `target_ids` maps positions to target feature ids (None: identity). Mass
    containment is read from `known` (ascending target ids and their two masses: the feature's
    cached relation pool, matcher/pool_masses.py) or measured on demand, and kept per position.
    """

    def __init__(self, pair: PairTables, source: ModelTables, feature: int, corr, t_s, s_t,
                 p_of, wov_of, target_ids: np.ndarray | None = None,
                 known: Known | None = None):
        self.pair, self.source, self.feature = pair, source, feature
        self.target = pair.other(source.name)
        self.corr, self.t_s, self.s_t = corr, t_s, s_t
        self.p_of = p_of  # positions -> best-of-N p-values
        self.wov_of = wov_of  # positions -> weighted token overlap
        self.target_ids = target_ids
        self.known = known
        self.mass: dict[int, tuple[float, float]] = {}
        self._code = np.full(len(corr), -1, dtype=np.int8)  # codes known so far (-1: not yet)

    def _ids(self, pos: np.ndarray) -> np.ndarray:
        return pos if self.target_ids is None else self.target_ids[pos]

    def masses(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mass containment (target given source, source given target) at positions."""
        pos = np.asarray(pos, dtype=np.int64)
        todo = [int(i) for i in pos if int(i) not in self.mass]
        if todo and self.known is not None and len(self.known[0]):
            todo = self._from_known(todo)
        if todo:
            si, sv = self.source.column(self.feature)
            t = self.target
            ts, st = rel.mass_containment(
                si, sv, self.pair.n_aligned, t.act_indptr, t.act_indices, t.act_data, self._ids(np.array(todo))
            )
            for k, i in enumerate(todo):
                self.mass[i] = (float(ts[k]), float(st[k]))
        return (np.array([self.mass[int(i)][0] for i in pos]),
                np.array([self.mass[int(i)][1] for i in pos]))

    def _from_known(self, todo: list[int]) -> list[int]:
        """Take the masses of positions in `known`; return the positions still to measure."""
        ids, ts, st = self.known
        want = self._ids(np.array(todo, dtype=np.int64))
        at = np.minimum(np.searchsorted(ids, want), len(ids) - 1)
        hit = ids[at] == want
        for i, a in zip(np.array(todo)[hit].tolist(), at[hit].tolist()):
            self.mass[i] = (float(ts[a]), float(st[a]))
        return np.array(todo)[~hit].tolist()

    def codes(self, pos: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
        """Relation codes at positions (`p`: their best-of-N p-values, if already known)."""
        pos = np.asarray(pos, dtype=np.int64)
        if len(pos) == 0:
            return np.zeros(0, dtype=np.int8)
        known = self._code[pos]
        if (known >= 0).all():  # each position's code is worked out once per query
            return known
        p = self.p_of(pos) if p is None else np.asarray(p)
        above = (p < CHANCE_ALPHA) & (not bool(self.source.dead[self.feature]))
        ok = rel.eligible(self.corr[pos], self.t_s[pos], self.s_t[pos])
        ts, st = np.zeros(len(pos)), np.zeros(len(pos))
        if ok.any():
            ts[ok], st[ok] = self.masses(pos[ok])
        tokens = rel.shares_tokens(self.wov_of(pos))
        out = rel.relation_codes(self.corr[pos], ts, st, ok, above, tokens)
        self._code[pos] = out
        return out

    def pool(self) -> np.ndarray:
        """Positions that may be in a containment relation (relations.relation_pool)."""
        return rel.relation_pool(self.corr, self.t_s, self.s_t)

    def linked(self) -> tuple[np.ndarray, np.ndarray]:
        """Pool positions and their codes, linked ones only (same, parent, child)."""
        pos = self.pool()
        codes = self.codes(pos)
        keep = np.isin(codes, LINKED_CODES)
        return pos[keep], codes[keep]


def pool_ids(pair: PairTables, source: ModelTables, feature: int, rows=None) -> np.ndarray:
    """Target ids of the relation pool of `feature` over every candidate (relation_pool), from
    its row of the all-pairs statistics alone (`rows`: that row, (sum of products, co-fire
    counts), when the caller has read it already)."""
    if not pair.has_activations:
        return np.zeros(0, dtype=np.int64)
    target = pair.other(source.name)
    sab, cof = pair.cross_rows(source.name, feature) if rows is None else rows
    cof = np.asarray(cof, dtype=np.float64)
    t_s = scores.containment(cof, source.col_nnz[feature])
    s_t = scores.containment(cof, target.col_nnz)
    # Only candidates with enough count containment can be in the pool: correlate those alone
    # (elementwise, so the same numbers as over every candidate).
    sub = np.flatnonzero(np.maximum(t_s, s_t) >= RELATION_MIN_CONTAINMENT)
    corr = scores.pearson_from_sums(
        np.asarray(sab)[sub], source.col_sum[feature], source.col_sumsq[feature],
        target.col_sum[sub], target.col_sumsq[sub], pair.n_aligned,
    )
    return sub[rel.relation_pool(corr, t_s[sub], s_t[sub])].astype(np.int64)
