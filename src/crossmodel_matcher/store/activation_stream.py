"""The running top-k examples per feature and key alignment, for streamed builds; the stream
protocol and block checks live in `store.sources` (re-exported here). The streamed build
itself is `store.stream_build`.
"""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.rules import TOP_EXAMPLES_PER_FEATURE
from crossmodel_matcher.store.sources import (  # noqa: F401  (re-exported for readers and tests)
    ActivationStream,
    CsrStream,
    InputError,
    ModelSource,
    block_rows,
    sparsify_block,
    stream_of,
)


class TopK:
    """Running top-k examples per feature, ordered (feature, activation desc, row asc) as
    `derive.top_examples_from_activations` orders them, so both paths keep the same rows.

    Rows must arrive in increasing order. Candidates are buffered and merged in batches; a
    feature's k-th best activation (its floor, refreshed at each merge) filters new entries.
    """

    def __init__(self, n_features: int, k: int = TOP_EXAMPLES_PER_FEATURE, merge_min: int = 1 << 21):
        self.n_features, self.k, self.merge_min = n_features, k, merge_min
        self.fid = np.zeros(0, dtype=np.int32)
        self.act = np.zeros(0, dtype=np.float32)
        self.row = np.zeros(0, dtype=np.int64)
        self.floor = np.full(n_features, -np.inf, dtype=np.float32)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._n_pending = 0

    def add(self, fid: np.ndarray, act: np.ndarray, row: np.ndarray) -> None:
        """Entries of one block (activation > 0), in row order."""
        # A later row needs a strictly larger activation than the floor to enter.
        keep = act > self.floor[fid]
        if keep.any():
            self._pending.append((fid[keep].astype(np.int32), act[keep].astype(np.float32), row[keep]))
            self._n_pending += int(keep.sum())
        if self._n_pending >= max(self.merge_min, len(self.fid)):
            self._merge()

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._merge()
        return self.fid, self.act, self.row

    def _merge(self) -> None:
        if not self._pending:
            return
        fid = np.concatenate([self.fid, *(p[0] for p in self._pending)])
        act = np.concatenate([self.act, *(p[1] for p in self._pending)])
        row = np.concatenate([self.row, *(p[2] for p in self._pending)])
        self._pending, self._n_pending = [], 0
        # Kept rows come first and precede every pending row, pending rows are in row order,
        # so a stable sort on (feature, activation desc) leaves ties in row order.
        desc = np.uint32(0xFFFFFFFF) - act.view(np.uint32)  # positive floats: bits rise with value
        order = np.argsort((fid.astype(np.int64) << 32) | desc.astype(np.int64), kind="stable")
        fid, act, row = fid[order], act[order], row[order]
        starts = starts_of(fid, self.n_features)
        sel = np.arange(len(fid)) - starts[fid] < self.k
        self.fid, self.act, self.row = fid[sel], act[sel], row[sel]
        counts = np.bincount(self.fid, minlength=self.n_features)
        full = np.flatnonzero(counts >= self.k)
        self.floor[full] = self.act[starts_of(self.fid, self.n_features)[full] + self.k - 1]


def starts_of(sorted_ids: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(sorted_ids, np.arange(n), side="left")


def align_first_rows(keys_a: np.ndarray, keys_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a and b holding the same key, in sorted key order; a repeated key aligns its
    first row (the same result as `derive.align_examples` when keys are unique)."""
    ua, ia = np.unique(keys_a, return_index=True)
    ub, ib = np.unique(keys_b, return_index=True)
    _, pa, pb = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    return ia[pa].astype(np.int64), ib[pb].astype(np.int64)
