"""What an importer hands to a build: one model's data, and the stream protocol for rows read
block by block. A leaf of `store`: readers, ingestion and the streaming reduction import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.errors import InputError
from crossmodel_matcher.store.derive import TokenRows, TopExamples

__all__ = [
    "ActivationStream", "CsrStream", "InputError", "ModelSource", "block_rows", "check_dense_block",
    "sparsify_block",
]

from crossmodel_matcher.rules import BLOCK_BYTES


class ActivationStream(Protocol):
    """Rows of one model's activations, read in order, block by block."""

    n_examples: int
    n_features: int
    origin: str

    def blocks(self) -> Iterator[tuple[int, sp.csr_matrix]]:
        """(first row, float32 CSR block holding the entries > 0), in row order."""
        ...


def block_rows(n_features: int, multiple: int = 1, block_bytes: int | None = None) -> int:
    """Rows per block so that a dense block stays near `block_bytes` (default BLOCK_BYTES),
    a multiple of `multiple`."""
    rows = max(1, (block_bytes or BLOCK_BYTES) // (4 * max(1, n_features)))
    return max(multiple, rows // multiple * multiple)


def sparsify_block(block: np.ndarray, where: str) -> sp.csr_matrix:
    """A dense block, checked (finite, non-negative), as a CSR of its positive entries."""
    check_dense_block(block, where)
    rows, cols = np.nonzero(block > 0)
    data = block[rows, cols].astype(np.float32)
    indptr = np.zeros(block.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=block.shape[0]), out=indptr[1:])
    return sp.csr_matrix((data, cols.astype(np.int32), indptr), shape=block.shape)


def check_dense_block(block: np.ndarray, where: str) -> None:
    """InputError unless the block is floating point, finite and non-negative."""
    if block.dtype.kind != "f":
        raise InputError(f"{where}: dtype {block.dtype}; activations must be floating point (float32)")
    if block.size:
        lo, hi = block.min(), block.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):
            bad = np.argwhere(~np.isfinite(block))[0]
            raise InputError(
                f"{where}: NaN or inf at block row {bad[0]}, feature {bad[1]}; clean the activations"
            )
        if lo < 0:
            raise InputError(
                f"{where}: negative activation {float(lo):.4g}; SAE activations are >= 0 "
                "(store post-ReLU activations, not pre-activations)"
            )


@dataclass
class CsrStream:
    """An in-memory CSR matrix (rows = examples) served as a stream of row blocks; like every
    stream it carries only the entries > 0 (SAE activations are never negative)."""

    matrix: sp.csr_matrix
    origin: str

    def __post_init__(self) -> None:
        m = sp.csr_matrix(self.matrix, dtype=np.float32, copy=True)
        m.sum_duplicates()
        m.data[m.data < 0] = 0
        m.eliminate_zeros()
        self.matrix = m
        self.n_examples, self.n_features = m.shape

    def blocks(self) -> Iterator[tuple[int, sp.csr_matrix]]:
        step = block_rows(self.n_features)
        for lo in range(0, self.n_examples, step):
            yield lo, self.matrix[lo : lo + step]


def stream_of(src: ModelSource) -> ActivationStream | None:
    if src.activation_stream is not None:
        return src.activation_stream
    if src.activations is not None:
        return CsrStream(src.activations, src.origin)
    return None


@dataclass
class ModelSource:
    """One SAE's data as an importer hands it over.

    Either `activations` (rows = this model's examples, with `example_keys` and
    `example_tokens`) or `top_examples` alone (token tables only) must be given.
    `activation_stream` replaces `activations` for stores too large to hold: its rows are
    read block by block (see `store.activation_stream`); there a repeated example key is
    allowed and its first row is the one aligned.
    """

    name: str
    n_features: int
    example_keys: np.ndarray | None = None  # str [n_examples], unique
    example_tokens: TokenRows | None = None  # tokens of each example row
    activations: sp.csr_matrix | None = None  # float32 [n_examples, n_features]
    top_examples: TopExamples | None = None
    decoder: np.ndarray | None = None  # [n_features, d]
    activation_space: str | None = None
    labels: dict[int, str] = field(default_factory=dict)
    origin: str = "<memory>"  # file or folder the data came from, for error messages
    activation_stream: ActivationStream | None = None  # rows read block by block


