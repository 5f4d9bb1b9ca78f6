"""Token lists of one feature or a pair of features, most distinctive first."""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.schemas import TokenWeight
from crossmodel_matcher.tables import ModelTables


def _token_list(
    m: ModelTables, tokens: np.ndarray, weights: np.ndarray, counts: np.ndarray, limit: int | None = None
) -> list[TokenWeight]:
    """TokenWeights, most distinctive first (ties: higher count, then token id)."""
    order = np.lexsort((tokens, -counts, -weights))[:limit]
    vocab = m.vocab
    return [
        TokenWeight(token=vocab[t], weight=round(w, 6), count=c)
        for t, w, c in zip(tokens[order].tolist(), weights[order].tolist(), counts[order].tolist())
    ]


def shared_tokens(a: ModelTables, fa: int, b: ModelTables, fb: int, limit: int | None = None) -> list[TokenWeight]:
    """Tokens in both top-50 sets, most distinctive (smaller lift weight) first."""
    ids, counts = a.top_token_ids[fa], a.top_token_counts[fa]
    safe = np.maximum(ids, 0)  # membership by b's bit-packed set (a tenth of np.isin's time)
    bits = b.top_bits[fb][safe >> 6] >> (safe & 63).astype(np.uint64)
    keep = (ids >= 0) & (bits & np.uint64(1)).astype(bool)
    ids, counts = ids[keep], counts[keep]
    weights = np.minimum(a.token_weights[fa, ids], b.token_weights[fb, ids])
    return _token_list(a, ids, weights, counts, limit)


def only_tokens(a: ModelTables, fa: int, b: ModelTables, fb: int) -> list[TokenWeight]:
    """Tokens of a's top-50 set missing from b's, most distinctive first."""
    ids, counts = a.top_token_ids[fa], a.top_token_counts[fa]
    keep = (ids >= 0) & ~np.isin(ids, b.top_token_ids[fb])
    ids, counts = ids[keep], counts[keep]
    return _token_list(a, ids, a.token_weights[fa, ids], counts)


def distinctive_tokens(m: ModelTables, feature: int, n: int = 10) -> list[TokenWeight]:
    w = m.token_weights[feature]
    order = np.argsort(-w, kind="stable")[:n]
    counts = dict(zip(m.top_token_ids[feature].tolist(), m.top_token_counts[feature].tolist()))
    return [
        TokenWeight(token=m.vocab[t], weight=round(float(w[t]), 6), count=counts.get(int(t), 0))
        for t in order
        if w[t] > 0
    ]


def top_tokens(m: ModelTables, feature: int, n: int) -> list[TokenWeight]:
    """The original top tokens (by count in the top-10% examples), with their weights."""
    return [
        TokenWeight(token=m.vocab[t], weight=round(float(m.token_weights[feature, t]), 6), count=int(c))
        for t, c in zip(m.top_token_ids[feature][:n], m.top_token_counts[feature][:n])
        if t >= 0
    ]
