"""Vectorised scores of one source feature against every target feature at once."""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.rules import (
    COMBINED_CORRELATION_WEIGHT,
    COMBINED_JACCARD_WEIGHT,
    MATCH_CORRELATION_WEIGHT,
    MATCH_OVERLAP_WEIGHT,
)


def jaccard_all(src_bits: np.ndarray, src_size: int, tgt_bits: np.ndarray, tgt_size: np.ndarray):
    """Jaccard of one bit-packed token set against every row of `tgt_bits`; 0 for empty sets."""
    inter = np.bitwise_count(tgt_bits & src_bits[None, :]).sum(axis=1, dtype=np.int64)
    union = src_size + tgt_size.astype(np.int64) - inter
    return np.divide(inter, union, out=np.zeros(len(union)), where=union > 0), inter


def weighted_overlap_all(w_src: np.ndarray, weights_t: np.ndarray, tgt_weight_sum: np.ndarray):
    """Weighted Jaccard sum(min)/sum(max) of one weight vector against every target's weights.

    `weights_t` is [V, F]; only the source's non-zero tokens are read.
    """
    nz = np.flatnonzero(w_src)
    if len(nz) == 0:
        return np.zeros(weights_t.shape[1])
    smin = np.minimum(weights_t[nz], w_src[nz, None]).sum(axis=0).astype(np.float64)
    smax = float(w_src.sum(dtype=np.float64)) + tgt_weight_sum - smin
    return np.divide(smin, smax, out=np.zeros(len(smax)), where=smax > 0)


def pearson_from_sums(
    sab: np.ndarray, sa: float, saa: float, sb: np.ndarray, sbb: np.ndarray, n: int
) -> np.ndarray:
    """Full-stream Pearson correlation from sums over n examples (zeros included)."""
    if n <= 1:
        return np.zeros(len(sb))
    sab = np.asarray(sab, dtype=np.float64)
    cov = sab / n - (sa / n) * (sb / n)
    var_a = max(saa / n - (sa / n) ** 2, 0.0)
    var_b = np.maximum(sbb / n - (sb / n) ** 2, 0.0)
    denom = np.sqrt(var_a * var_b)
    out = np.divide(cov, denom, out=np.zeros(len(sb)), where=denom > 1e-12)
    return np.clip(out, -1.0, 1.0)


def containment(cofire: np.ndarray, n_given: np.ndarray | float) -> np.ndarray:
    """P(other fires | given fires) = cofire / n_given; 0 where the given never fires."""
    cofire = np.asarray(cofire, dtype=np.float64)
    n_given = np.broadcast_to(np.asarray(n_given, dtype=np.float64), cofire.shape)
    return np.divide(cofire, n_given, out=np.zeros(cofire.shape), where=n_given > 0)


def combined_score(jaccard: np.ndarray, correlation: np.ndarray | None) -> np.ndarray:
    """The original: 0.4 * jaccard + 0.6 * correlation if correlation > 0, else jaccard."""
    if correlation is None:
        return np.asarray(jaccard, dtype=np.float64)
    blended = COMBINED_JACCARD_WEIGHT * jaccard + COMBINED_CORRELATION_WEIGHT * correlation
    return np.where(correlation > 0, blended, jaccard)


def match_score(weighted: np.ndarray, correlation: np.ndarray | None) -> np.ndarray:
    """Ranking score: 0.7 * max(corr, 0) + 0.3 * weighted overlap; tokens only: the overlap."""
    if correlation is None:
        return np.asarray(weighted, dtype=np.float64)
    return MATCH_CORRELATION_WEIGHT * np.maximum(correlation, 0.0) + MATCH_OVERLAP_WEIGHT * weighted


def cosine_all(src_dir: np.ndarray, tgt_dirs: np.ndarray) -> np.ndarray:
    """Cosine of one unit decoder direction with every unit target direction."""
    return np.asarray(tgt_dirs @ src_dir, dtype=np.float64)
