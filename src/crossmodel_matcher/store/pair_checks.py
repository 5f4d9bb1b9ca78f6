"""Checks that a parsed manifest describes a whole, consistent pair, before any array is read.

`check_layout`: each model lists its required arrays, optional groups come whole (the three
activation arrays, the two cross arrays), `signals` agree with the files, and each array's
recorded shape and dtype match its spec for the model's sizes. `check_memory`: what loading
would take, against the budget. The vocabulary and labels files are parsed and checked here.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.store import memory_budget
from crossmodel_matcher.store.array_checks import (
    ACTIVATION_ARRAYS,
    CROSS_ARRAYS,
    MODEL_ARRAYS,
    MOMENT_ARRAYS,
    Dims,
    shape_problem,
    value_problem,
)
from crossmodel_matcher.store.manifest import Manifest

__all__ = ["MMAP", "Dims", "value_problem"]

MMAP = {"act_indices", "act_data", "sum_prod", "cofire", "decoder"}
"""Large arrays touched sparsely: memory-mapped rather than read."""


def model_dims(manifest: Manifest, index: int) -> Dims:
    m = manifest.models[index]
    # act_* hold n_sample_examples rows when the build sampled the aligned examples
    stored = manifest.n_sample_examples if manifest.n_sample_examples is not None else manifest.n_aligned_examples
    return Dims(m.n_features, manifest.vocab_size, m.n_examples, stored, all_aligned=manifest.n_aligned_examples)


def with_nnz(dims: Dims, indptr: np.ndarray) -> Dims:
    return dataclasses.replace(dims, nnz=int(indptr[-1]) if len(indptr) else 0)


def cross_dims(manifest: Manifest) -> Dims:
    a, b = manifest.models
    return Dims(a.n_features, manifest.vocab_size, 0, manifest.n_aligned_examples, None, b.n_features)


def _where(root: Path) -> Path:
    return root / "pair.json"


def _check_entry(root: Path, manifest: Manifest, rel: str, name: str, dims: Dims) -> None:
    entry = manifest.files[rel]
    if entry.shape is None:
        raise PairFormatError(f"{_where(root)}: entry {rel!r} in 'files' lacks 'shape' and 'dtype'")
    problem = shape_problem(name, entry.shape, entry.dtype, dims)
    if problem:
        raise PairFormatError(
            f"{_where(root)}: entry {rel!r} in 'files' records {problem} for this pair's sizes "
            "(n_features, vocab_size); the manifest was changed after the build; rebuild the pair"
        )


def _check_moments(root: Path, manifest: Manifest, name: str, has_acts: bool) -> None:
    """A model whose act_* hold a sample lists all its moments over the aligned examples."""
    listed = [f"models/{name}/{k}.npy" in manifest.files for k in MOMENT_ARRAYS]
    sampled = manifest.n_sample_examples is not None and manifest.n_sample_examples < manifest.n_aligned_examples
    if (any(listed) or (sampled and has_acts)) and not all(listed):
        missing = [k for k, ok in zip(MOMENT_ARRAYS, listed) if not ok]
        raise PairFormatError(
            f"{_where(root)}: model {name!r} lacks models/{name}/{missing[0]}.npy in 'files' "
            f"(a pair whose activations are a sample stores all of {', '.join(MOMENT_ARRAYS)}); "
            "rebuild the pair"
        )


def _check_model_layout(root: Path, manifest: Manifest, index: int) -> bool:
    """Check one model's entries; whether it has aligned activations."""
    meta = manifest.models[index]
    base = f"models/{meta.name}"
    dims = model_dims(manifest, index)
    for name in MODEL_ARRAYS:
        if f"{base}/{name}.npy" not in manifest.files:
            raise PairFormatError(f"{_where(root)}: 'files' lacks required {base}/{name}.npy; rebuild the pair")
    acts = [f"{base}/{name}.npy" in manifest.files for name in ACTIVATION_ARRAYS]
    if any(acts) and not all(acts):
        raise PairFormatError(
            f"{_where(root)}: model {meta.name!r} lists only some of {', '.join(ACTIVATION_ARRAYS)}; "
            "rebuild the pair"
        )
    _check_moments(root, manifest, meta.name, all(acts))
    for name in (*MODEL_ARRAYS, "decoder", "act_indptr", *MOMENT_ARRAYS):
        rel = f"{base}/{name}.npy"
        if rel in manifest.files:
            _check_entry(root, manifest, rel, name, dims)
    if all(acts):
        # their lengths are checked against act_indptr's last value when they are loaded
        for name in ("act_indices", "act_data"):
            entry = manifest.files[f"{base}/{name}.npy"]
            if entry.shape is None or len(entry.shape) != 1:
                raise PairFormatError(f"{_where(root)}: entry '{base}/{name}.npy' must be one-dimensional")
    signals = ["tokens"] + (["activations"] if all(acts) else [])
    signals += ["decoder"] if f"{base}/decoder.npy" in manifest.files else []
    if sorted(meta.signals) != sorted(signals):
        raise PairFormatError(
            f"{_where(root)}: field 'models[{index}].signals' is {meta.signals}, but the files "
            f"listed give {signals}; rebuild the pair"
        )
    return all(acts)


def check_layout(root: Path, manifest: Manifest) -> None:
    """The manifest lists a whole pair whose recorded shapes fit its sizes."""
    if "vocab.json" not in manifest.files:
        raise PairFormatError(f"{_where(root)}: 'files' lacks required vocab.json; rebuild the pair")
    acts = [_check_model_layout(root, manifest, i) for i in range(2)]
    cross = [f"cross/{k}.npy" in manifest.files for k in CROSS_ARRAYS]
    if any(cross) and not all(cross):
        raise PairFormatError(f"{_where(root)}: 'files' lists only one of the two cross arrays; rebuild")
    if all(cross):
        if not all(acts):
            raise PairFormatError(f"{_where(root)}: cross arrays without both models' activations; rebuild")
        for name in CROSS_ARRAYS:
            _check_entry(root, manifest, f"cross/{name}.npy", name, cross_dims(manifest))


def check_memory(root: Path, manifest: Manifest) -> None:
    """Refuse a pair whose tables would not fit the memory budget, before reading them."""
    needs = []
    for i, m in enumerate(manifest.models):
        field = f"{_where(root)} field 'models[{i}].n_features' ({m.n_features:,})"
        needs += memory_budget.token_table_needs(m.name, field, m.n_features, manifest.vocab_size, False)
    try:
        memory_budget.require_within(needs, raise_with=f"${memory_budget.LIMIT_ENV}")
    except memory_budget.MemoryBudgetError as exc:
        raise PairFormatError(str(exc)) from None


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PairFormatError(f"{path}: not valid JSON ({exc}); rebuild the pair") from None


def read_vocab(root: Path, manifest: Manifest) -> list[str]:
    path = root / "vocab.json"
    vocab = _read_json(path)
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        raise PairFormatError(f"{path}: must be a JSON list of token strings; rebuild the pair")
    if len(vocab) != manifest.vocab_size:
        raise PairFormatError(
            f"{path}: {len(vocab)} tokens, pair.json field 'vocab_size' says {manifest.vocab_size}; rebuild"
        )
    return vocab


def read_labels(root: Path, manifest: Manifest, index: int) -> dict[int, str]:
    """A model's labels file, when listed: feature ids in range, each label a string."""
    meta = manifest.models[index]
    rel = f"models/{meta.name}/labels.json"
    if rel not in manifest.files:
        return {}
    path = root / rel
    data = _read_json(path)
    if not isinstance(data, dict):
        raise PairFormatError(f'{path}: must be a JSON object {{"<feature id>": "label"}}; rebuild the pair')
    labels: dict[int, str] = {}
    for key, value in data.items():
        fid = int(key) if key.isdigit() else -1
        if not 0 <= fid < meta.n_features or not isinstance(value, str):
            raise PairFormatError(
                f"{path}: entry {key[:40]!r}: keys must be feature ids 0..{meta.n_features - 1} and "
                "values strings; rebuild the pair"
            )
        labels[fid] = value
    return labels
