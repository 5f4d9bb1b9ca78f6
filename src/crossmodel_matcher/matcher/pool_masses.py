"""Each feature's relation pool with its activation-mass containment, computed once per pair.

The relation rule needs, for a source feature, the mass containment of every candidate in its
relation pool (relate.pool_ids: the most contained candidates by count). Both depend on the
pair alone, so they are computed once, feature by feature with the same function a query
would use (relations.mass_containment, hence the same numbers), and cached beside the pair as
`cache/pools-v1.npz`. A query then reads its pool and the pool's masses instead of gathering
the sampled activations (at SplatNLP's density that gather was ~7 ms per wide feature);
candidates outside the pool (compare_features on any pair) are still measured on demand.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from crossmodel_matcher.matcher import cache_files
from crossmodel_matcher.matcher import relations as rel
from crossmodel_matcher.matcher.relate import Known, pool_ids
from crossmodel_matcher.progress import progress_bar
from crossmodel_matcher.rules import CACHE_THREADS, FEATURE_BLOCK
from crossmodel_matcher.tables import ModelTables, PairTables

CACHE_NAME = "cache/pools-v1.npz"
log = logging.getLogger(__name__)


class PoolMasses:
    """Per model: CSR rows (indptr [F+1]) of pool ids (ascending) and their two masses."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self._a = arrays

    def arrays(self) -> dict[str, np.ndarray]:
        """The pools as cached beside the pair."""
        return self._a

    def known(self, model: str, feature: int) -> Known:
        """Pool ids of `feature` (ascending) with their masses (relate.RelationTable's `known`)."""
        ptr = self._a[f"{model}/indptr"]
        lo, hi = int(ptr[feature]), int(ptr[feature + 1])
        return (self._a[f"{model}/ids"][lo:hi], self._a[f"{model}/t_s"][lo:hi],
                self._a[f"{model}/s_t"][lo:hi])

    def pool(self, model: str, feature: int) -> np.ndarray:
        """The relation pool of `feature` as target ids, ascending."""
        ptr = self._a[f"{model}/indptr"]
        return self._a[f"{model}/ids"][int(ptr[feature]): int(ptr[feature + 1])]

    def fits(self, pair: PairTables) -> bool:
        """Whether every model's rows have the pair's lengths and ids in range."""
        for m in pair.models:
            ptr, ids = self._a.get(f"{m.name}/indptr"), self._a.get(f"{m.name}/ids")
            if ptr is None or ids is None or len(ptr) != m.n_features + 1 or int(ptr[-1]) != len(ids):
                return False
            if any(len(self._a.get(f"{m.name}/{k}", ())) != len(ids) for k in ("t_s", "s_t")):
                return False
            if len(ids) and (ids.min() < 0 or ids.max() >= pair.other(m.name).n_features):
                return False
        return True

    def probe_ok(self, pair: PairTables) -> bool:
        """Whether a few live features' cached pools and masses are what a query would measure
        now (a release that changed the relation pool's rule finds its old cache stale)."""
        if not pair.has_activations:
            return True
        for m in pair.models:
            live = np.flatnonzero(~m.dead)
            for f in live[[0, len(live) // 2, -1]] if len(live) else []:
                if not _same(self.known(m.name, int(f)), _row(pair, m, int(f))):
                    return False
        return True


def _row(pair: PairTables, m: ModelTables, f: int, rows=None) -> Known:
    """One feature's pool (ascending) and masses, measured as a query would (`rows`: its row of
    the all-pairs statistics, when already read)."""
    pool = np.sort(pool_ids(pair, m, f, rows))
    t = pair.other(m.name)
    si, sv = m.column(f)
    ts, st = rel.mass_containment(si, sv, pair.n_aligned, t.act_indptr, t.act_indices, t.act_data, pool)
    return pool, ts, st


def _same(a: Known, b: Known) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))


def _rows(pair: PairTables, m: ModelTables, features: range) -> list[Known]:
    """Pools and masses of `features` of `m` against the other model."""
    lo, hi = features.start, features.stop
    if pair.models[0].name == m.name:
        sab, cof = pair.cross_sum_prod[lo:hi], pair.cross_cofire[lo:hi]
    else:  # the second model's rows are columns: read them as one block, not one by one
        sab, cof = pair.cross_sum_prod[:, lo:hi].T, pair.cross_cofire[:, lo:hi].T
    return [_row(pair, m, f, (sab[k], cof[k])) for k, f in enumerate(features)]


def _model_rows(pair: PairTables, m: ModelTables, bar) -> dict[str, np.ndarray]:
    """Pools and masses of every feature of `m`, in blocks on a few threads (numpy's gathers and
    sums release the GIL); the blocks are joined in feature order, so the result is the same."""
    blocks = [range(lo, min(lo + FEATURE_BLOCK, m.n_features)) for lo in range(0, m.n_features, FEATURE_BLOCK)]
    rows: list[Known] = []
    with ThreadPoolExecutor(max(1, min(CACHE_THREADS, os.cpu_count() or 1))) as ex:
        for block, done in zip(blocks, ex.map(lambda b: _rows(pair, m, b), blocks)):
            rows += done
            bar.update(len(block))
    sizes = np.array([len(r[0]) for r in rows], dtype=np.int64)

    def join(i: int, dtype) -> np.ndarray:
        return np.concatenate([r[i] for r in rows]).astype(dtype) if rows else np.zeros(0, dtype)

    return {
        f"{m.name}/indptr": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        f"{m.name}/ids": join(0, np.int32),
        f"{m.name}/t_s": join(1, np.float64),
        f"{m.name}/s_t": join(2, np.float64),
    }


def build(pair: PairTables, progress: bool = False) -> PoolMasses:
    """Every feature's relation pool and masses, both directions (none without activations)."""
    if not pair.has_activations:
        return empty(pair)
    arrays: dict[str, np.ndarray] = {}
    with progress_bar("relation pools", sum(m.n_features for m in pair.models), "feature", progress) as bar:
        for m in pair.models:
            arrays.update(_model_rows(pair, m, bar))
    return PoolMasses(arrays)


def empty(pair: PairTables) -> PoolMasses:
    """No pools known: every query measures its own (a pair without activations has none)."""
    arrays: dict[str, np.ndarray] = {}
    for m in pair.models:
        arrays.update({f"{m.name}/indptr": np.zeros(m.n_features + 1, dtype=np.int64),
                       f"{m.name}/ids": np.zeros(0, np.int32), f"{m.name}/t_s": np.zeros(0),
                       f"{m.name}/s_t": np.zeros(0)})
    return PoolMasses(arrays)


def load_or_build(pair: PairTables, pair_dir: Path | None, progress: bool = False) -> PoolMasses:
    """The cached pools of the pair at `pair_dir`, built (and cached) when missing or stale."""
    path = None if pair_dir is None else Path(pair_dir) / CACHE_NAME
    arrays = cache_files.read(path, pair.fingerprint)
    if arrays is not None:
        pools = PoolMasses(arrays)
        if pools.fits(pair) and pools.probe_ok(pair):
            return pools
        log.info("relation pools in %s no longer match the pair or the rule; rebuilding", path)
    pools = build(pair, progress)
    if path is not None:
        cache_files.write(path, pools.arrays(), pair.fingerprint)
    return pools
