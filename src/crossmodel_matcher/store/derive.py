"""From examples and activations to tables: token tables, stats, aligned activations.

All of it is vectorised over every (feature, example, token) entry at once, so deriving the
tables of a 24,576-feature SAE takes seconds, not a Python loop per feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.rules import TOP_EXAMPLES_PER_FEATURE, WEIGHT_MIN_FRACTION
from crossmodel_matcher.schemas import MAX_TOP_ROWS, TOP_FRACTION_DIVISOR, TOP_K_TOKENS


@dataclass
class TokenRows:
    """Token ids of a list of examples, CSR-style: example i has indices[indptr[i]:indptr[i+1]]."""

    indptr: np.ndarray  # int64 [n+1]
    indices: np.ndarray  # int32 [nnz]

    @classmethod
    def from_lists(cls, rows: list[list[int]] | list[np.ndarray]) -> TokenRows:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        flat = np.concatenate([np.asarray(r, dtype=np.int32) for r in rows]) if rows else None
        return cls(indptr, flat if flat is not None else np.zeros(0, dtype=np.int32))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def take(self, rows: np.ndarray) -> TokenRows:
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        offsets = np.repeat(starts - indptr[:-1], lengths)
        flat_pos = np.arange(indptr[-1], dtype=np.int64) + offsets
        return TokenRows(indptr, self.indices[flat_pos])


@dataclass
class TopExamples:
    """Top-activating examples per feature: rows grouped by feature, highest activation first."""

    feature_id: np.ndarray  # int32 [R]
    activation: np.ndarray  # float32 [R]
    tokens: TokenRows  # tokens of each row
    example_row: np.ndarray | None = None  # int64 [R]: the example's row, when known

    def sorted(self) -> TopExamples:
        """Rows ordered by feature, then activation descending (stable, as the original)."""
        order = np.lexsort((-self.activation, self.feature_id))
        rows = None if self.example_row is None else self.example_row[order]
        return TopExamples(self.feature_id[order], self.activation[order], self.tokens.take(order), rows)


@dataclass
class TokenTables:
    top_token_ids: np.ndarray  # int32 [F, 50]
    top_token_counts: np.ndarray  # int32 [F, 50]
    token_weights: np.ndarray  # float32 [F, V]


def top_examples_from_activations(
    acts: sp.csr_matrix, tokens: TokenRows, per_feature: int = TOP_EXAMPLES_PER_FEATURE
) -> TopExamples:
    """The `per_feature` highest positive activations of each feature, with their tokens."""
    csc = acts.tocsc()
    csc.eliminate_zeros()
    counts = np.diff(csc.indptr)
    cols = np.repeat(np.arange(csc.shape[1], dtype=np.int32), counts)
    rows = csc.indices
    vals = csc.data.astype(np.float32)
    keep = vals > 0
    cols, rows, vals = cols[keep], rows[keep], vals[keep]
    # Order by feature, activation descending, then example row (deterministic ties: the
    # sort is stable and CSC keeps rows ascending within a column).
    order = np.lexsort((-vals, cols))
    cols, rows, vals = cols[order], rows[order], vals[order]
    starts = np.searchsorted(cols, np.arange(csc.shape[1]), side="left")
    rank = np.arange(len(cols)) - starts[cols]
    sel = rank < per_feature
    rows = rows[sel].astype(np.int64)
    return TopExamples(cols[sel], vals[sel], tokens.take(rows), rows)


def token_base_rates(tokens: TokenRows, vocab_size: int) -> np.ndarray:
    """Share of examples that contain each token (document frequency / n)."""
    n = max(1, len(tokens))
    row_of = np.repeat(np.arange(len(tokens)), np.diff(tokens.indptr))
    key = np.unique(row_of.astype(np.int64) * vocab_size + tokens.indices)
    return np.bincount(key % vocab_size, minlength=vocab_size).astype(np.float64) / n


def build_token_tables(
    top: TopExamples,
    n_features: int,
    vocab: list[str],
    base_rate: np.ndarray,
    progress: Callable[[str], None] | None = None,
) -> TokenTables:
    """Original top-50 token sets (exact) and lift-based token weights, for every feature.

    Original definition: a feature's rows sorted by activation (stable), at most 1,000 of
    them, keep `max(1, n // 10)`, count tokens not starting with `<`, keep the 50 most
    common; ties go to the token seen first (Python's `Counter.most_common`).
    Lift weight of token t: p = activation-weighted share of the feature's top rows holding
    t, lift = p / base_rate(t), weight = p * ln(lift) when lift > 1, else 0; weights under
    1% of the feature's largest are dropped.
    """
    top = top.sorted()
    vocab_size = len(vocab)
    special = np.array([tok.startswith("<") for tok in vocab], dtype=bool)
    fid = top.feature_id.astype(np.int64)
    if len(fid) and (fid.min() < 0 or fid.max() >= n_features):
        raise ValueError(f"feature_id out of range [0, {n_features - 1}]")
    starts = np.searchsorted(fid, np.arange(n_features), side="left")
    ends = np.searchsorted(fid, np.arange(n_features), side="right")
    n_rows = np.minimum(ends - starts, MAX_TOP_ROWS)
    n_keep = np.where(n_rows > 0, np.maximum(1, n_rows // TOP_FRACTION_DIVISOR), 0)
    rank = np.arange(len(fid)) - starts[fid]

    row_len = np.diff(top.tokens.indptr)
    entry_row = np.repeat(np.arange(len(fid)), row_len)
    entry_tok = top.tokens.indices.astype(np.int64)
    if len(entry_tok) and (entry_tok.min() < 0 or entry_tok.max() >= vocab_size):
        raise ValueError(f"token id out of range [0, {vocab_size - 1}]")
    entry_fid = fid[entry_row]
    ordinary = ~special[entry_tok]

    # Original counts over the kept top-10% rows, in reading order.
    kept = ordinary & (rank[entry_row] < n_keep[entry_fid])
    top_ids, top_counts = _top_sets(entry_fid[kept], entry_tok[kept], n_features, vocab_size)
    if progress:
        progress("original top-50 token sets")
    in_window = ordinary & (rank[entry_row] < MAX_TOP_ROWS)
    weights = _lift_weights(top, fid, rank, entry_fid, entry_tok, entry_row, in_window, base_rate, n_features, vocab_size)
    weights[:, special] = 0.0
    weights[weights < WEIGHT_MIN_FRACTION * weights.max(axis=1, keepdims=True)] = 0.0
    if progress:
        progress("lift-weighted token tables")
    return TokenTables(top_ids, top_counts, weights.astype(np.float32))


def _top_sets(
    entry_fid: np.ndarray, entry_tok: np.ndarray, n_features: int, vocab_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-50 token ids and counts per feature from its kept (feature, token) entries, in
    reading order: most common first, ties by first seen."""
    key = entry_fid * vocab_size + entry_tok
    uniq, first_seen, counts = np.unique(key, return_index=True, return_counts=True)
    u_fid, u_tok = uniq // vocab_size, uniq % vocab_size
    order = np.lexsort((first_seen, -counts, u_fid))
    u_fid, u_tok, counts = u_fid[order], u_tok[order], counts[order]
    u_start = np.searchsorted(u_fid, np.arange(n_features), side="left")
    u_rank = np.arange(len(u_fid)) - u_start[u_fid]
    sel = u_rank < TOP_K_TOKENS
    top_ids = np.full((n_features, TOP_K_TOKENS), -1, dtype=np.int32)
    top_counts = np.zeros((n_features, TOP_K_TOKENS), dtype=np.int32)
    top_ids[u_fid[sel], u_rank[sel]] = u_tok[sel]
    top_counts[u_fid[sel], u_rank[sel]] = counts[sel]
    return top_ids, top_counts


def _lift_weights(
    top: TopExamples, fid: np.ndarray, rank: np.ndarray, entry_fid: np.ndarray, entry_tok: np.ndarray,
    entry_row: np.ndarray, in_window: np.ndarray, base_rate: np.ndarray, n_features: int, vocab_size: int,
) -> np.ndarray:
    """Lift weights over all (up to 1,000) top rows, activation-weighted: [F, V] float64."""
    act = np.maximum(top.activation.astype(np.float64), 0.0)
    row_ok = rank < MAX_TOP_ROWS
    act_total = np.bincount(fid[row_ok], weights=act[row_ok], minlength=n_features)
    mass = np.bincount(
        entry_fid[in_window] * vocab_size + entry_tok[in_window],
        weights=act[entry_row[in_window]],
        minlength=n_features * vocab_size,
    ).reshape(n_features, vocab_size)
    share = mass / np.where(act_total > 0, act_total, 1.0)[:, None]
    positive = base_rate[base_rate > 0]
    floor = float(positive.min()) if len(positive) else 1.0  # a token never seen counts as rarest
    lift = share / np.maximum(base_rate, floor)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lift > 1.0, share * np.log(lift), 0.0)


def feature_stats(acts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fire count, max activation and mean activation where firing, per feature."""
    csc = acts.tocsc()
    positive = csc.data > 0
    cols = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))[positive]
    vals = csc.data[positive].astype(np.float64)
    n_features = csc.shape[1]
    fire = np.bincount(cols, minlength=n_features).astype(np.int64)
    total = np.bincount(cols, weights=vals, minlength=n_features)
    mx = np.zeros(n_features)
    np.maximum.at(mx, cols, vals)
    mean = total / np.maximum(fire, 1)
    return fire, mx.astype(np.float32), mean.astype(np.float32)


def stats_from_top_examples(top: TopExamples, n_features: int) -> tuple[np.ndarray, ...]:
    """Stats when only top examples are known: counts are lower bounds (rows listed)."""
    fid = top.feature_id.astype(np.int64)
    act = top.activation.astype(np.float64)
    pos = act > 0
    fire = np.bincount(fid[pos], minlength=n_features).astype(np.int64)
    total = np.bincount(fid[pos], weights=act[pos], minlength=n_features)
    mx = np.zeros(n_features)
    np.maximum.at(mx, fid[pos], act[pos])
    return fire, mx.astype(np.float32), (total / np.maximum(fire, 1)).astype(np.float32)


def align_examples(keys_a: np.ndarray, keys_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a and of b holding the same example key, in sorted key order.

    Keys must be unique within each model; the caller checks and names the file.
    """
    common, rows_a, rows_b = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
    return rows_a.astype(np.int64), rows_b.astype(np.int64)


def aligned_csc(acts: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Activations restricted to the aligned rows (in aligned order), column-compressed."""
    sub = acts[rows].tocsc()
    sub.eliminate_zeros()
    sub.sort_indices()
    return (
        sub.indptr.astype(np.int64),
        sub.indices.astype(np.int32),
        sub.data.astype(np.float32),
    )


def cross_statistics(
    csc_a: tuple[np.ndarray, np.ndarray, np.ndarray],
    csc_b: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_aligned: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """All-pairs sum of products and co-fire counts, [F_a, F_b] float32.

    Sparse products when the data are sparse; dense chunked torch GEMMs (GPU when there is
    one) when the expected number of co-firing pairs makes sparse products slower.
    """
    xa = sp.csc_matrix((csc_a[2], csc_a[1], csc_a[0]), shape=(n_aligned, len(csc_a[0]) - 1))
    xb = sp.csc_matrix((csc_b[2], csc_b[1], csc_b[0]), shape=(n_aligned, len(csc_b[0]) - 1))
    fa, fb = xa.shape[1], xb.shape[1]
    row_nnz_a = np.bincount(xa.indices, minlength=n_aligned).astype(np.float64)
    row_nnz_b = np.bincount(xb.indices, minlength=n_aligned).astype(np.float64)
    sparse_cost = float(row_nnz_a @ row_nnz_b)
    # Measured on 2 CPU cores: a dense GEMM multiply-add costs ~1/150 of a sparse one.
    dense_cost = float(n_aligned) * fa * fb / 150.0
    if sparse_cost <= dense_cost:
        xa_r, xb_r = xa.tocsr(), xb.tocsr()
        prod = (xa_r.T @ xb_r).toarray().astype(np.float32)
        ones_a = sp.csr_matrix((np.ones_like(xa_r.data), xa_r.indices, xa_r.indptr), xa_r.shape)
        ones_b = sp.csr_matrix((np.ones_like(xb_r.data), xb_r.indices, xb_r.indptr), xb_r.shape)
        cof = (ones_a.T @ ones_b).toarray().astype(np.float32)
        if progress:
            progress("cross statistics (sparse products)")
        return prod, cof
    return _cross_dense_torch(xa.tocsr(), xb.tocsr(), progress)


def _cross_dense_torch(
    xa: sp.csr_matrix, xb: sp.csr_matrix, progress: Callable[[str], None] | None
) -> tuple[np.ndarray, np.ndarray]:
    try:
        import torch
    except ImportError:  # torch is optional (the `import` extra): numpy's BLAS does the same sums
        return _cross_dense_numpy(xa, xb, progress)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    fa, fb = xa.shape[1], xb.shape[1]
    prod = torch.zeros((fa, fb), dtype=torch.float32, device=device)
    cof = torch.zeros((fa, fb), dtype=torch.float32, device=device)
    chunk = max(256, int(2**27 // max(fb, 1)))  # ~512 MB of dense wide rows per chunk
    n = xa.shape[0]
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        a = torch.from_numpy(xa[lo:hi].toarray()).to(device)
        b = torch.from_numpy(xb[lo:hi].toarray()).to(device)
        prod += a.T @ b
        cof += (a > 0).float().T @ (b > 0).float()
        if progress:
            progress(f"cross statistics (dense, {hi}/{n} examples)")
    return prod.cpu().numpy(), cof.cpu().numpy()


def _cross_dense_numpy(
    xa: sp.csr_matrix, xb: sp.csr_matrix, progress: Callable[[str], None] | None
) -> tuple[np.ndarray, np.ndarray]:
    fa, fb = xa.shape[1], xb.shape[1]
    prod = np.zeros((fa, fb), dtype=np.float32)
    cof = np.zeros((fa, fb), dtype=np.float32)
    chunk = max(256, int(2**27 // max(fb, 1)))
    n = xa.shape[0]
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        a = xa[lo:hi].toarray().astype(np.float32)
        b = xb[lo:hi].toarray().astype(np.float32)
        prod += a.T @ b
        cof += (a > 0).astype(np.float32).T @ (b > 0).astype(np.float32)
        if progress:
            progress(f"cross statistics (dense, numpy, {hi}/{n} examples)")
    return prod, cof
