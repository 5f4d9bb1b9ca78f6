"""Activations read block by block and reduced on the fly, so a store of any size builds in
bounded memory: the dense matrix is never held, only one block of rows at a time.

Per model, one pass over its blocks accumulates fire counts, max and mean activation, the
top examples of every feature (a running top-k), and spills the rows that align with the
other model to small files; those are assembled into the pair's column-compressed aligned
activations afterwards. The model with fewer features is read first and its aligned rows
kept row-compressed, so the cross statistics (sum of products, co-fire counts) accumulate
while the other model streams, in chunks of aligned rows through `derive.cross_statistics`
(torch GEMMs, on the GPU when there is one, once the data are dense enough).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.progress import progress_bar
from crossmodel_matcher.store import derive
from crossmodel_matcher.store.derive import TopExamples
from crossmodel_matcher.store.sources import (  # noqa: F401  (re-exported for readers and tests)
    ActivationStream,
    CsrStream,
    InputError,
    ModelSource,
    block_rows,
    sparsify_block,
    stream_of,
)

CROSS_FLUSH_ROWS = 65536
"""Aligned rows gathered before one round of cross-statistics products."""
CROSS_GROUP_CELLS = 1 << 24
"""Output cells of one cross-statistics product (held-model features x other features)."""
SORT_CHUNK_ENTRIES = 1 << 23
"""Entries sorted at once when ordering each feature's aligned column by example."""
@dataclass
class StreamReduction:
    """What one pass over a model's activations leaves behind."""

    n_examples: int
    fire_count: np.ndarray  # int64 [F]
    max_activation: np.ndarray  # float32 [F]
    mean_activation: np.ndarray  # float32 [F]
    top: TopExamples | None  # None when the source brought its own top examples
    aligned_csc: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


@dataclass
class PairReduction:
    reductions: tuple[StreamReduction | None, StreamReduction | None]
    n_aligned: int
    cross: tuple[np.ndarray, np.ndarray] | None  # sum_prod, cofire [F_a, F_b]


class TopK:
    """Running top-k examples per feature, ordered (feature, activation desc, row asc) as
    `derive.top_examples_from_activations` orders them, so both paths keep the same rows.

    Rows must arrive in increasing order. Candidates are buffered and merged in batches; a
    feature's k-th best activation (its floor, refreshed at each merge) filters new entries.
    """

    def __init__(self, n_features: int, k: int = derive.TOP_EXAMPLES_PER_FEATURE, merge_min: int = 1 << 21):
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


class _Pass:
    """One model's accumulators for one pass over its blocks."""

    def __init__(
        self, src: ModelSource, stream: ActivationStream, aligned_pos: np.ndarray | None, spill: Path
    ):
        f = stream.n_features
        self.src, self.stream, self.aligned_pos, self.spill = src, stream, aligned_pos, spill
        self.fire = np.zeros(f, dtype=np.int64)
        self.total = np.zeros(f, dtype=np.float64)
        self.mx = np.zeros(f, dtype=np.float32)
        self.topk = TopK(f) if src.top_examples is None else None
        self.aligned_counts = np.zeros(f, dtype=np.int64)
        self.pieces: list[Path] = []

    def run(self, on_aligned: Callable[[np.ndarray, sp.csr_matrix], None] | None, progress: bool) -> None:
        s, f = self.stream, self.stream.n_features
        seen = 0
        with progress_bar(f"{self.src.name}: activations", s.n_examples, "rows", progress) as bar:
            for row0, block in s.blocks():
                if row0 != seen or block.shape[1] != f or seen + block.shape[0] > s.n_examples:
                    raise InputError(
                        f"{s.origin}: block at row {row0} with shape {block.shape} does not continue "
                        f"the {s.n_examples} x {f} activations; the store is inconsistent"
                    )
                self._add(row0, block, on_aligned)
                seen += block.shape[0]
                bar.update(block.shape[0])
        if seen != s.n_examples:
            raise InputError(f"{s.origin}: {seen} activation rows read, {s.n_examples} expected")

    def _add(self, row0: int, block: sp.csr_matrix, on_aligned) -> None:
        f = self.stream.n_features
        fid, act = block.indices, block.data
        self.fire += np.bincount(fid, minlength=f)
        self.total += np.bincount(fid, weights=act, minlength=f)
        np.maximum.at(self.mx, fid, act)
        if self.topk is not None:
            rows = row0 + np.repeat(np.arange(block.shape[0], dtype=np.int64), np.diff(block.indptr))
            self.topk.add(fid.astype(np.int32), act.astype(np.float32), rows)
        if self.aligned_pos is None:
            return
        pos = self.aligned_pos[row0 : row0 + block.shape[0]]
        local = np.flatnonzero(pos >= 0)
        if not len(local):
            return
        sub = block[local]
        j = pos[local]
        self.aligned_counts += np.bincount(sub.indices, minlength=f)
        piece = self.spill / f"{self.src.name}-{len(self.pieces):05d}.npz"
        np.savez(piece, row=np.repeat(j, np.diff(sub.indptr)).astype(np.int32), fid=sub.indices, val=sub.data)
        self.pieces.append(piece)
        if on_aligned is not None:
            on_aligned(j, sub)

    def reduction(self, n_aligned: int) -> StreamReduction:
        top = None
        if self.topk is not None:
            fid, act, row = self.topk.result()
            top = TopExamples(fid, act, self.src.example_tokens.take(row))
        csc = None
        if self.aligned_pos is not None:
            csc = assemble_csc(self.pieces, self.aligned_counts, n_aligned)
        return StreamReduction(
            n_examples=self.stream.n_examples,
            fire_count=self.fire,
            max_activation=self.mx,
            mean_activation=(self.total / np.maximum(self.fire, 1)).astype(np.float32),
            top=top,
            aligned_csc=csc,
        )


def assemble_csc(pieces: list[Path], counts: np.ndarray, n_aligned: int) -> tuple[np.ndarray, ...]:
    """Spilled aligned entries as CSC (features = columns), each column ordered by example."""
    n_features = len(counts)
    indptr = np.zeros(n_features + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    cursor = indptr[:-1].copy()
    for piece in pieces:
        with np.load(piece) as z:
            row, fid, val = z["row"], z["fid"], z["val"]
        order = np.argsort(fid, kind="stable")
        fid = fid[order]
        rank = np.arange(len(fid)) - starts_of(fid, n_features)[fid]
        pos = cursor[fid] + rank
        indices[pos], data[pos] = row[order], val[order]
        cursor += np.bincount(fid, minlength=n_features)
        piece.unlink()
    # Pieces come in the model's row order; aligned order differs, so sort each column.
    f0 = 0
    while f0 < n_features:
        f1 = int(np.searchsorted(indptr, indptr[f0] + SORT_CHUNK_ENTRIES, side="right")) - 1
        f1 = min(n_features, max(f1, f0 + 1))
        lo, hi = int(indptr[f0]), int(indptr[f1])
        if hi > lo:
            col = np.repeat(np.arange(f1 - f0, dtype=np.int64), counts[f0:f1])
            order = np.argsort(col * max(1, n_aligned) + indices[lo:hi])
            indices[lo:hi] = indices[lo:hi][order]
            data[lo:hi] = data[lo:hi][order]
        f0 = f1
    return indptr, indices, data


class CrossAccumulator:
    """Sum of products and co-fire counts over aligned rows, [F_a, F_b], chunk by chunk."""

    def __init__(self, held_csr: sp.csr_matrix, held_is_a: bool, n_features_other: int, say):
        self.held, self.held_is_a, self.say = held_csr, held_is_a, say
        fa, fb = (held_csr.shape[1], n_features_other) if held_is_a else (n_features_other, held_csr.shape[1])
        self.sum_prod = np.zeros((fa, fb), dtype=np.float32)
        self.cofire = np.zeros((fa, fb), dtype=np.float32)
        self._rows: list[np.ndarray] = []
        self._subs: list[sp.csr_matrix] = []
        self._n = 0
        self.done = 0

    def add(self, aligned_rows: np.ndarray, sub: sp.csr_matrix) -> None:
        self._rows.append(aligned_rows)
        self._subs.append(sub)
        self._n += len(aligned_rows)
        if self._n >= CROSS_FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._n:
            return
        other = _csc_tuple(sp.vstack(self._subs, format="csr"))
        held = self.held[np.concatenate(self._rows)].tocsc()
        # Features of the held model in groups, so one product's output (and its temporaries)
        # stays near CROSS_GROUP_CELLS cells whatever the two widths.
        n_other = len(other[0]) - 1
        step = max(1, CROSS_GROUP_CELLS // max(1, n_other))
        for g0 in range(0, held.shape[1], step):
            g1 = min(held.shape[1], g0 + step)
            part = _csc_tuple(held[:, g0:g1])
            if self.held_is_a:
                prod, cof = derive.cross_statistics(part, other, self._n)
                self.sum_prod[g0:g1] += prod
                self.cofire[g0:g1] += cof
            else:
                prod, cof = derive.cross_statistics(other, part, self._n)
                self.sum_prod[:, g0:g1] += prod
                self.cofire[:, g0:g1] += cof
            del prod, cof
        self.done += self._n
        self._rows, self._subs, self._n = [], [], 0
        self.say(f"cross statistics: {self.done:,} aligned examples")


def _csc_tuple(m: sp.spmatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = sp.csc_matrix(m)
    c.sort_indices()
    return c.indptr.astype(np.int64), c.indices.astype(np.int32), c.data.astype(np.float32)


def align_first_rows(keys_a: np.ndarray, keys_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a and b holding the same key, in sorted key order; a repeated key aligns its
    first row (the same result as `derive.align_examples` when keys are unique)."""
    ua, ia = np.unique(keys_a, return_index=True)
    ub, ib = np.unique(keys_b, return_index=True)
    _, pa, pb = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    return ia[pa].astype(np.int64), ib[pb].astype(np.int64)


def _positions(n: int, rows: np.ndarray) -> np.ndarray:
    pos = np.full(n, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    return pos


def reduce_pair(
    source_a: ModelSource,
    source_b: ModelSource,
    say: Callable[[str], None],
    progress: bool = True,
    spill_dir: str | Path | None = None,
) -> PairReduction:
    """Stream both models' activations once each; see the module docstring."""
    streams = (stream_of(source_a), stream_of(source_b))
    sources = (source_a, source_b)
    both = streams[0] is not None and streams[1] is not None
    n_aligned = 0
    positions: list[np.ndarray | None] = [None, None]
    if both:
        rows_a, rows_b = align_first_rows(
            np.asarray(source_a.example_keys), np.asarray(source_b.example_keys)
        )
        n_aligned = len(rows_a)
        if n_aligned == 0:
            raise InputError(
                f"{source_a.origin} / {source_b.origin}: no example key is shared by the two "
                "models, so activations cannot be aligned; check that both use one key scheme"
            )
        positions = [_positions(streams[0].n_examples, rows_a), _positions(streams[1].n_examples, rows_b)]
        say(f"aligned {n_aligned:,} examples by key")
    spill = Path(tempfile.mkdtemp(prefix=".crossmodel-spill-", dir=spill_dir))
    try:
        reductions: list[StreamReduction | None] = [None, None]
        order = [0, 1]
        if both and streams[1].n_features < streams[0].n_features:
            order = [1, 0]
        cross = None
        for step, i in enumerate(order):
            if streams[i] is None:
                continue
            run = _Pass(sources[i], streams[i], positions[i], spill)
            on_aligned = cross.add if (both and step == 1) else None
            run.run(on_aligned, progress)
            if cross is not None:
                cross.flush()
            reductions[i] = run.reduction(n_aligned)
            say(f"{sources[i].name}: activations reduced")
            if both and step == 0:
                indptr, indices, data = reductions[i].aligned_csc
                held = sp.csc_matrix((data, indices, indptr), shape=(n_aligned, len(indptr) - 1)).tocsr()
                cross = CrossAccumulator(held, i == 0, streams[1 - i].n_features, say)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    out = (cross.sum_prod, cross.cofire) if cross is not None else None
    return PairReduction((reductions[0], reductions[1]), n_aligned, out)
