"""What each array of a pair must be: dtype, shape (from the manifest's sizes) and value range.

The loader checks every array against its spec when a pair is opened: ids within the
vocabulary, counts non-negative, example indices below the aligned count, statistics
finite. Large arrays are checked in bounded blocks (about 4M values at a time), so the
check costs tens of milliseconds on the demo pair and never a copy of an array.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from crossmodel_matcher.rules import CHECK_BLOCK_VALUES as BLOCK_VALUES
from crossmodel_matcher.rules import TOP_K_TOKENS

MODEL_ARRAYS = (
    "top_token_ids",
    "top_token_counts",
    "token_weights",
    "fire_count",
    "max_activation",
    "mean_activation",
)
ACTIVATION_ARRAYS = ("act_indptr", "act_indices", "act_data")
MOMENT_ARRAYS = ("aligned_count", "aligned_sum", "aligned_sumsq")  # when act_* hold a sample
OPTIONAL_ARRAYS = ("decoder", *ACTIVATION_ARRAYS, *MOMENT_ARRAYS)
CROSS_ARRAYS = ("sum_prod", "cofire")


@dataclass(frozen=True)
class Dims:
    """The sizes an array's shape and values are checked against."""

    n_features: int
    vocab_size: int
    n_examples: int
    n_aligned: int
    nnz: int | None = None  # act_indptr's last value, once it is known
    all_aligned: int | None = None  # aligned examples when act_* hold a sample of n_aligned
    other_features: int | None = None  # for the cross arrays: (F_a, F_b)


Check = Callable[[np.ndarray, Dims], str | None]


def _bounds(lo: float, hi: Callable[[Dims], float], inclusive: bool = False) -> Check:
    """Finite values in [lo, hi) (or [lo, hi] when inclusive)."""

    def check(block: np.ndarray, d: Dims) -> str | None:
        if block.size == 0:
            return None
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            return "holds NaN or infinite values"
        top = hi(d)
        mn, mx = block.min(), block.max()
        if mn < lo or (mx > top if inclusive else mx >= top):
            bad = mn if mn < lo else mx
            bracket = "]" if inclusive else ")"
            return f"holds {bad.item()!r} outside [{lo}, {top}{bracket}"
        return None

    return check


def _finite(block: np.ndarray, d: Dims) -> str | None:
    return None if np.isfinite(block).all() else "holds NaN or infinite values"


INF = float("inf")


@dataclass(frozen=True)
class ArraySpec:
    dtype: str
    shape: Callable[[Dims], tuple[int | None, ...]]  # None: any length on that axis
    check: Check


SPECS: dict[str, ArraySpec] = {
    "top_token_ids": ArraySpec("int32", lambda d: (d.n_features, TOP_K_TOKENS), _bounds(-1, lambda d: d.vocab_size)),
    "top_token_counts": ArraySpec("int32", lambda d: (d.n_features, TOP_K_TOKENS), _bounds(0, lambda d: INF)),
    "token_weights": ArraySpec("float32", lambda d: (d.n_features, d.vocab_size), _bounds(0, lambda d: INF)),
    "fire_count": ArraySpec("int64", lambda d: (d.n_features,), _bounds(0, lambda d: INF)),
    "max_activation": ArraySpec("float32", lambda d: (d.n_features,), _bounds(0, lambda d: INF)),
    "mean_activation": ArraySpec("float32", lambda d: (d.n_features,), _bounds(0, lambda d: INF)),
    "decoder": ArraySpec("float32", lambda d: (d.n_features, None), _finite),
    "act_indptr": ArraySpec("int64", lambda d: (d.n_features + 1,), _bounds(0, lambda d: INF)),
    "act_indices": ArraySpec("int32", lambda d: (d.nnz,), _bounds(0, lambda d: d.n_aligned)),
    "act_data": ArraySpec("float32", lambda d: (d.nnz,), _bounds(0, lambda d: INF)),
    "aligned_count": ArraySpec("float64", lambda d: (d.n_features,), _bounds(0, lambda d: d.all_aligned or d.n_aligned, True)),
    "aligned_sum": ArraySpec("float64", lambda d: (d.n_features,), _bounds(0, lambda d: INF)),
    "aligned_sumsq": ArraySpec("float64", lambda d: (d.n_features,), _bounds(0, lambda d: INF)),
    "sum_prod": ArraySpec("float32", lambda d: (d.n_features, d.other_features), _bounds(0, lambda d: INF)),
    "cofire": ArraySpec("float32", lambda d: (d.n_features, d.other_features), _bounds(0, lambda d: d.n_aligned, True)),
}


def shape_problem(name: str, shape: list[int] | tuple[int, ...], dtype: str, d: Dims) -> str | None:
    """Why (shape, dtype) is not what `name` must be for these sizes; None when it is."""
    spec = SPECS[name]
    want = spec.shape(d)
    if dtype != spec.dtype:
        return f"dtype {dtype}, must be {spec.dtype}"
    if len(shape) != len(want) or any(w is not None and s != w for s, w in zip(shape, want)):
        shown = "[" + ", ".join("any" if w is None else str(w) for w in want) + "]"
        return f"shape {list(shape)}, must be {shown}"
    return None


def _blocks(arr: np.ndarray) -> Iterator[np.ndarray]:
    if arr.ndim == 0 or arr.shape[0] == 0:
        yield np.asarray(arr)
        return
    per_row = max(1, arr.size // arr.shape[0])
    step = max(1, BLOCK_VALUES // per_row)
    for lo in range(0, arr.shape[0], step):
        yield np.asarray(arr[lo : lo + step])


def value_problem(name: str, arr: np.ndarray, d: Dims) -> str | None:
    """Why the values of `arr` are not valid for `name`; None when they are."""
    check = SPECS[name].check
    for block in _blocks(arr):
        problem = check(block, d)
        if problem:
            return problem
    if name == "act_indptr" and len(arr):
        if arr[0] != 0 or np.any(np.diff(arr) < 0):
            return "must start at 0 and never decrease"
    return None
