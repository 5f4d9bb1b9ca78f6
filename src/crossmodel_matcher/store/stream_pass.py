"""One model's pass over its activation blocks in a streamed build (see `stream_build`).

Per block (dense array or CSR of rows, entries >= 0): fire counts, sums and max per feature;
the running top examples; over the rows that align with the other model, the moments
(count, sum, sum of squares per feature) that correlation and containment need; the sample
rows; and, by role, the aligned rows written to disk ("held") or multiplied with the held
model's same rows ("streamed"). Its state saves to and restores from flat arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.rules import SORT_CHUNK_ENTRIES
from crossmodel_matcher.store.activation_stream import TopK, starts_of
from crossmodel_matcher.store.checkpoint import HeldRows
from crossmodel_matcher.store.cross_stats import BlockedCross
from crossmodel_matcher.store.derive import TopExamples
from crossmodel_matcher.store.sources import ModelSource


@dataclass
class ModelReduction:
    """What one pass leaves: stats over all its rows, moments over the aligned ones, the sample."""

    n_examples: int
    fire_count: np.ndarray  # int64 [F]
    max_activation: np.ndarray  # float32 [F]
    mean_activation: np.ndarray  # float32 [F]
    top: TopExamples | None
    aligned_moments: tuple[np.ndarray, np.ndarray, np.ndarray]  # count, sum, sum of squares [F]
    sample_csc: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # indptr, indices, data


def _csr(block) -> sp.csr_matrix:
    if sp.issparse(block):
        return block.tocsr()
    m = sp.csr_matrix(block)
    m.eliminate_zeros()
    return m


class ModelPass:
    """Accumulators of one model's pass; `add` takes blocks in row order."""

    def __init__(self, src: ModelSource, stream, n_rows: int, positions, sample_rank, held: HeldRows | None,
                 role: str, cross: BlockedCross | None):
        f = stream.n_features
        self.src, self.stream, self.n_rows, self.f = src, stream, n_rows, f
        self.positions, self.sample_rank, self.held, self.role, self.cross = (
            positions, sample_rank, held, role, cross)
        self.fire = np.zeros(f, dtype=np.int64)
        self.total = np.zeros(f, dtype=np.float64)
        self.mx = np.zeros(f, dtype=np.float32)
        self.topk = TopK(f) if src.top_examples is None else None
        self.al = [np.zeros(f, dtype=np.int64), np.zeros(f, dtype=np.float64), np.zeros(f, dtype=np.float64)]
        self.sample_rows: list[np.ndarray] = []
        self.sample_parts: list[sp.csr_matrix] = []
        self.rows_done = 0

    # ---- one block -------------------------------------------------------------------------------
    def add(self, row0: int, block) -> None:
        self._stats(row0, block)
        self.rows_done = row0 + block.shape[0]
        if self.positions is None:
            return
        pos = self.positions[row0 : row0 + block.shape[0]]
        local = np.flatnonzero(pos >= 0)
        if not len(local):
            return
        j = pos[local]
        rank = self.sample_rank[j]
        keep = np.flatnonzero(rank >= 0)
        if len(keep):
            self.sample_rows.append(rank[keep])
            self.sample_parts.append(_csr(block[local[keep]]))
        if self.role == "streamed" and not sp.issparse(block):
            # Wide dense blocks are never copied: the held rows of unaligned rows are empty,
            # and their share is taken off the block's moments.
            self._moments(block)
            if len(local) < block.shape[0]:
                self._moments(block[pos < 0], sign=-1)
            self.cross.add(self.held.gather(pos), block)
            return
        sub = block[local] if len(local) < block.shape[0] else block
        self._moments(sub)
        if self.role == "held":
            self.held.append(j, _csr(sub))
        elif self.role == "streamed":
            self.cross.add(self.held.gather(j), sub)

    def _stats(self, row0: int, block) -> None:
        f = self.f
        if sp.issparse(block):
            fid, act = block.indices, block.data
            self.fire += np.bincount(fid, minlength=f)
            self.total += np.bincount(fid, weights=act, minlength=f)
            np.maximum.at(self.mx, fid, act)
            if self.topk is not None:
                rows = row0 + np.repeat(np.arange(block.shape[0], dtype=np.int64), np.diff(block.indptr))
                self.topk.add(fid.astype(np.int32), act.astype(np.float32), rows)
            return
        self.fire += np.count_nonzero(block, axis=0)
        self.total += block.sum(axis=0, dtype=np.float64)
        np.maximum(self.mx, block.max(axis=0, initial=0.0), out=self.mx)
        if self.topk is not None:
            r, c = np.nonzero(block > np.maximum(self.topk.floor, 0.0))
            self.topk.add(c.astype(np.int32), block[r, c].astype(np.float32), row0 + r.astype(np.int64))

    def _moments(self, sub, sign: int = 1) -> None:
        count, s, ss = self.al
        if sp.issparse(sub):
            count += sign * np.bincount(sub.indices, minlength=self.f)
            s += sign * np.bincount(sub.indices, weights=sub.data, minlength=self.f)
            ss += sign * np.bincount(sub.indices, weights=sub.data.astype(np.float64) ** 2, minlength=self.f)
            return
        count += sign * np.count_nonzero(sub, axis=0)
        s += sign * sub.sum(axis=0, dtype=np.float64)
        ss += sign * np.einsum("ij,ij->j", sub, sub, dtype=np.float64)

    # ---- results ---------------------------------------------------------------------------------
    def reduction(self, n_sample: int) -> ModelReduction:
        top = None
        if self.topk is not None:
            fid, act, row = self.topk.result()
            top = TopExamples(fid, act, self.src.example_tokens.take(row))
        sample = None
        if self.positions is not None:
            sample = _sample_csc(self.sample_rows, self.sample_parts, n_sample, self.f)
        return ModelReduction(
            n_examples=self.n_rows,
            fire_count=self.fire,
            max_activation=self.mx,
            mean_activation=(self.total / np.maximum(self.fire, 1)).astype(np.float32),
            top=top,
            aligned_moments=(self.al[0].copy(), self.al[1].copy(), self.al[2].copy()),
            sample_csc=sample,
        )

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        fid, act, row = self.topk.result() if self.topk is not None else (np.zeros(0),) * 3
        rows = np.concatenate(self.sample_rows) if self.sample_rows else np.zeros(0, dtype=np.int64)
        part = sp.vstack(self.sample_parts, format="csr") if self.sample_parts else sp.csr_matrix((0, self.f))
        self.sample_rows, self.sample_parts = [rows], [part]
        arrays = {
            "fire": self.fire, "total": self.total, "mx": self.mx, "al_count": self.al[0],
            "al_sum": self.al[1], "al_sumsq": self.al[2], "top_fid": fid, "top_act": act, "top_row": row,
            "top_floor": self.topk.floor if self.topk is not None else np.zeros(0),
            "s_rows": rows, "s_indptr": part.indptr.astype(np.int64), "s_indices": part.indices.astype(np.int32),
            "s_data": part.data.astype(np.float32), "rows_done": np.array([self.rows_done]),
        }
        return {prefix + k: v for k, v in arrays.items()}

    def restore(self, arrays: dict[str, np.ndarray], prefix: str) -> int:
        a = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        self.fire, self.total, self.mx = a["fire"].copy(), a["total"].copy(), a["mx"].copy()
        self.al = [a["al_count"].copy(), a["al_sum"].copy(), a["al_sumsq"].copy()]
        if self.topk is not None:
            self.topk.fid, self.topk.act, self.topk.row = a["top_fid"], a["top_act"], a["top_row"]
            self.topk.floor = a["top_floor"].copy()
        n = len(a["s_indptr"]) - 1
        self.sample_rows = [a["s_rows"]]
        self.sample_parts = [sp.csr_matrix((a["s_data"], a["s_indices"], a["s_indptr"]), shape=(n, self.f))]
        self.rows_done = int(a["rows_done"][0])
        return self.rows_done




def _sample_csc(rows: list[np.ndarray], parts: list[sp.csr_matrix], n_sample: int, f: int):
    """The sample rows, placed at their sample index, column-compressed (rows sorted per
    column). Counting sort, consuming `rows`/`parts` as it goes: memory is the pieces plus
    the result, never several copies of the sample."""
    counts = np.zeros(f, dtype=np.int64)
    for p in parts:
        counts += np.bincount(p.indices, minlength=f)
    indptr = np.zeros(f + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    cursor = indptr[:-1].copy()
    seen = 0
    while parts:
        r, p = rows.pop(0), parts.pop(0)
        seen += len(r)
        order = np.argsort(p.indices, kind="stable")
        fid = p.indices[order]
        pos = cursor[fid] + np.arange(len(fid)) - starts_of(fid, f)[fid]
        indices[pos] = np.repeat(r, np.diff(p.indptr))[order]
        data[pos] = p.data[order]
        cursor += np.bincount(fid, minlength=f)
    if seen != n_sample:
        raise RuntimeError(f"sample holds {seen} rows, expected {n_sample}")
    f0 = 0
    while f0 < f:  # order each column by sample index, a chunk of columns at a time
        f1 = int(np.searchsorted(indptr, indptr[f0] + SORT_CHUNK_ENTRIES, side="right")) - 1
        f1 = min(f, max(f1, f0 + 1))
        lo, hi = int(indptr[f0]), int(indptr[f1])
        if hi > lo:
            col = np.repeat(np.arange(f1 - f0, dtype=np.int64), counts[f0:f1])
            order = np.argsort(col * max(1, n_sample) + indices[lo:hi])
            indices[lo:hi], data[lo:hi] = indices[lo:hi][order], data[lo:hi][order]
        f0 = f1
    return indptr, indices, data
