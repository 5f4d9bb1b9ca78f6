"""One model's loaded tables, and a pair of them with their cross statistics.

Stored arrays come in from the on-disk format (or straight from ingestion); everything
derived from them (bit-packed token sets, transposed weights, column moments) is computed
once here, so no query repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crossmodel_matcher.schemas import Signal


def pack_token_sets(top_token_ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Bit-pack each row's token ids (-1 = padding) into uint64 words: [F, ceil(V/64)]."""
    n_features = top_token_ids.shape[0]
    n_words = max(1, (vocab_size + 63) // 64)
    dense = np.zeros((n_features, n_words * 64), dtype=bool)
    rows, cols = np.nonzero(top_token_ids >= 0)
    dense[rows, top_token_ids[rows, cols]] = True
    packed = np.packbits(dense, axis=1, bitorder="little")
    return packed.view(np.uint64).reshape(n_features, n_words)


@dataclass
class ModelTables:
    """Everything one SAE contributes to matching."""

    name: str
    vocab: list[str]
    n_examples: int
    top_token_ids: np.ndarray  # int32 [F, 50], -1 padded; original order (count, first seen)
    top_token_counts: np.ndarray  # int32 [F, 50]
    token_weights: np.ndarray  # float32 [F, V]: lift-based weights, 0 for ordinary tokens
    fire_count: np.ndarray  # int64 [F]: examples of this model where the feature fires
    max_activation: np.ndarray  # float32 [F]
    mean_activation: np.ndarray  # float32 [F]: mean where it fires
    labels: dict[int, str] = field(default_factory=dict)
    activation_space: str | None = None
    decoder: np.ndarray | None = None  # float32 [F, d], rows unit norm
    # Activations over the pair's aligned examples, column-compressed (features = columns).
    act_indptr: np.ndarray | None = None  # int64 [F+1]
    act_indices: np.ndarray | None = None  # int32 [nnz]: aligned example index
    act_data: np.ndarray | None = None  # float32 [nnz]
    # When the aligned activations above are a sample (streamed builds), the moments over
    # all aligned examples: count where firing, sum, sum of squares. float64 [F].
    aligned_count: np.ndarray | None = None
    aligned_sum: np.ndarray | None = None
    aligned_sumsq: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.n_features = int(self.top_token_ids.shape[0])
        self.vocab_size = len(self.vocab)
        self.top_bits = pack_token_sets(self.top_token_ids, self.vocab_size)
        self.top_size = (self.top_token_ids >= 0).sum(axis=1).astype(np.int32)
        self.weights_t = np.ascontiguousarray(self.token_weights.T)  # [V, F]
        self.weight_sum = self.token_weights.sum(axis=1, dtype=np.float64)
        self.dead = self.fire_count == 0
        if self.decoder is not None:
            norms = np.linalg.norm(self.decoder, axis=1, keepdims=True)
            self.decoder = (self.decoder / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        if self.has_activations:
            self.col_nnz = np.diff(self.act_indptr).astype(np.int64)
            self.col_sum = np.zeros(self.n_features)
            self.col_sumsq = np.zeros(self.n_features)
            # Column sums in bounded chunks of columns: no per-non-zero temporaries.
            step = 1024
            for lo in range(0, self.n_features, step):
                hi = min(self.n_features, lo + step)
                a, b = int(self.act_indptr[lo]), int(self.act_indptr[hi])
                if a == b:
                    continue
                data = np.asarray(self.act_data[a:b], dtype=np.float64)
                cols = lo + np.flatnonzero(self.col_nnz[lo:hi] > 0)
                starts = np.asarray(self.act_indptr[cols], dtype=np.int64) - a  # strictly increasing
                self.col_sum[cols] = np.add.reduceat(data, starts)
                self.col_sumsq[cols] = np.add.reduceat(data * data, starts)
            # Moments of the stored (sampled) examples; col_* hold all aligned examples'.
            self.sample_sum, self.sample_sumsq = self.col_sum, self.col_sumsq
            if self.aligned_count is not None:
                self.set_aligned_moments(self.aligned_count, self.aligned_sum, self.aligned_sumsq)

    def set_aligned_moments(self, count: np.ndarray, total: np.ndarray, sumsq: np.ndarray) -> None:
        """Moments over all aligned examples, when the stored activations are a sample of them."""
        self.aligned_count = np.asarray(count, dtype=np.float64)
        self.aligned_sum = np.asarray(total, dtype=np.float64)
        self.aligned_sumsq = np.asarray(sumsq, dtype=np.float64)
        self.col_nnz = self.aligned_count.astype(np.int64)
        self.col_sum, self.col_sumsq = self.aligned_sum, self.aligned_sumsq

    @property
    def has_activations(self) -> bool:
        return self.act_indptr is not None

    @property
    def signals(self) -> list[Signal]:
        out: list[Signal] = ["tokens"]
        if self.has_activations:
            out.append("activations")
        if self.decoder is not None:
            out.append("decoder")
        return out

    def column(self, feature: int) -> tuple[np.ndarray, np.ndarray]:
        """Aligned example indices and activations where `feature` fires."""
        lo, hi = int(self.act_indptr[feature]), int(self.act_indptr[feature + 1])
        return self.act_indices[lo:hi], self.act_data[lo:hi]

    def label(self, feature: int) -> str | None:
        return self.labels.get(int(feature))

    def top_token_set(self, feature: int) -> list[int]:
        row = self.top_token_ids[feature]
        return [int(t) for t in row if t >= 0]


@dataclass
class PairTables:
    """Two models over one vocabulary, with their all-pairs co-activation statistics."""

    models: tuple[ModelTables, ModelTables]
    n_aligned: int
    # Sums over aligned examples, indexed [feature of models[0], feature of models[1]].
    cross_sum_prod: np.ndarray | None = None  # float32: sum of a*b
    cross_cofire: np.ndarray | None = None  # float32: count of examples where both fire
    description: str = ""
    format_version: int = 2
    fingerprint: str | None = None  # hash of the pair files' checksums, when loaded from disk
    # Aligned examples whose activations are stored (a hash-of-key sample); None: all of them.
    n_sample: int | None = None

    def __post_init__(self) -> None:
        a, b = self.models
        if a.name == b.name:
            raise ValueError(f"the two models need different names, both are {a.name!r}")
        if a.vocab != b.vocab:
            raise ValueError("the two models must share one vocabulary")

    @property
    def vocab(self) -> list[str]:
        return self.models[0].vocab

    @property
    def n_sampled(self) -> int:
        """Aligned examples behind the stored per-example activations (find_decomposition)."""
        return self.n_aligned if self.n_sample is None else self.n_sample

    @property
    def has_activations(self) -> bool:
        return self.cross_sum_prod is not None and all(m.has_activations for m in self.models)

    @property
    def decoder_comparable(self) -> bool:
        a, b = self.models
        return (
            a.decoder is not None
            and b.decoder is not None
            and a.activation_space is not None
            and a.activation_space == b.activation_space
            and a.decoder.shape[1] == b.decoder.shape[1]
        )

    def model(self, name: str) -> ModelTables:
        for m in self.models:
            if m.name == name:
                return m
        valid = ", ".join(repr(m.name) for m in self.models)
        raise KeyError(f"unknown model {name!r}; the loaded models are {valid}")

    def other(self, name: str) -> ModelTables:
        a, b = self.models
        return b if self.model(name) is a else a

    def cross_rows(self, source: str, feature: int) -> tuple[np.ndarray, np.ndarray]:
        """Sum of products and co-fire counts of `feature` against every other-model feature."""
        if self.models[0].name == source:
            return self.cross_sum_prod[feature], self.cross_cofire[feature]
        return self.cross_sum_prod[:, feature], self.cross_cofire[:, feature]
