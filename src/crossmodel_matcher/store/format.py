"""The on-disk model-pair format (version 1): plain .npy arrays plus a JSON manifest.

Layout of a pair directory::

    pair.json                 manifest: format, version, models, files with shape/dtype
    vocab.json                list of token strings; a token id is its index
    models/<name>/top_token_ids.npy     int32 [F, 50]  original top-50 set, -1 padded
    models/<name>/top_token_counts.npy  int32 [F, 50]  counts in the top-10% rows
    models/<name>/token_weights.npy     float32 [F, V] lift-based token weights
    models/<name>/fire_count.npy        int64 [F]
    models/<name>/max_activation.npy    float32 [F]
    models/<name>/mean_activation.npy   float32 [F]
    models/<name>/labels.json           optional {"<feature id>": "label"}
    models/<name>/decoder.npy           optional float32 [F, d]
    models/<name>/act_indptr.npy        optional int64 [F+1]  aligned activations (CSC)
    models/<name>/act_indices.npy       optional int32 [nnz]
    models/<name>/act_data.npy          optional float32 [nnz]
    models/<name>/aligned_{count,sum,sumsq}.npy  optional float64 [F]  moments over all aligned
                                        examples, when act_* hold a sample (n_sample_examples)
    cross/sum_prod.npy                  optional float32 [F_a, F_b]
    cross/cofire.npy                    optional float32 [F_a, F_b]

Large arrays are memory-mapped on load. A pair is written into a temporary sibling folder
and renamed into place, so a reader never sees a half-written pair.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.tables import ModelTables, PairTables

FORMAT_NAME = "crossmodel-matcher-pair"
FORMAT_VERSION = 1
_MODEL_ARRAYS = (
    "top_token_ids",
    "top_token_counts",
    "token_weights",
    "fire_count",
    "max_activation",
    "mean_activation",
)
_OPTIONAL_ARRAYS = (
    "decoder", "act_indptr", "act_indices", "act_data", "aligned_count", "aligned_sum", "aligned_sumsq"
)
_MMAP = {"act_indices", "act_data", "sum_prod", "cofire", "decoder"}  # large, touched sparsely


def write_pair(
    pair: PairTables, out_dir: str | Path, extra: dict | None = None, text_files: dict[str, str | bytes] | None = None
) -> Path:
    """Write `pair` to `out_dir` atomically (temporary folder, then rename).

    `text_files` are extra files (text or bytes) (relative path -> content) written inside the same folder.
    """
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        files: dict[str, dict] = {}

        def save(rel: str, arr: np.ndarray) -> None:
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, np.ascontiguousarray(arr), allow_pickle=False)
            files[rel] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}

        (tmp / "vocab.json").write_text(json.dumps(pair.vocab))
        models_meta = [_write_model(tmp, m, save) for m in pair.models]
        if pair.cross_sum_prod is not None:
            save("cross/sum_prod.npy", pair.cross_sum_prod)
            save("cross/cofire.npy", pair.cross_cofire)
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "description": pair.description,
            "vocab_size": len(pair.vocab),
            "n_aligned_examples": pair.n_aligned,
            **({} if pair.n_sample is None else {"n_sample_examples": pair.n_sample}),
            "models": models_meta,
            "files": files,
            **(extra or {}),
        }
        for rel, text in (text_files or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(text if isinstance(text, bytes) else text.encode())
        (tmp / "pair.json").write_text(json.dumps(manifest, indent=2))
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_model(tmp: Path, m: ModelTables, save) -> dict:
    """One model's arrays and labels under models/<name>/; its manifest entry."""
    base = f"models/{m.name}"
    for name in _MODEL_ARRAYS + _OPTIONAL_ARRAYS:
        arr = getattr(m, name)
        if arr is not None:
            save(f"{base}/{name}.npy", arr)
    if m.labels:
        labels = {str(k): v for k, v in sorted(m.labels.items())}
        (tmp / base / "labels.json").write_text(json.dumps(labels, indent=0))
    return {
        "name": m.name,
        "n_features": m.n_features,
        "n_examples": m.n_examples,
        "activation_space": m.activation_space,
        "signals": m.signals,
    }


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished folder to `out`, replacing an older pair there."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def read_manifest(pair_dir: str | Path) -> dict:
    path = Path(pair_dir) / "pair.json"
    if not path.is_file():
        raise PairFormatError(
            f"{path}: no pair manifest here; point at a folder written by "
            "`crossmodel-matcher build` (or run `crossmodel-matcher demo` for the demo pair)"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PairFormatError(f"{path}: not valid JSON ({exc}); rebuild the pair") from exc
    if manifest.get("format") != FORMAT_NAME:
        raise PairFormatError(f"{path}: field 'format' must be {FORMAT_NAME!r}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise PairFormatError(
            f"{path}: field 'format_version' is {version!r}, this release reads "
            f"{FORMAT_VERSION}; rebuild the pair with this release"
        )
    return manifest


def _load_array(root: Path, rel: str, manifest: dict, required: bool) -> np.ndarray | None:
    path = root / rel
    meta = manifest["files"].get(rel)
    if meta is None:
        if required:
            raise PairFormatError(f"{root / 'pair.json'}: 'files' lacks required {rel!r}")
        return None
    if not path.is_file():
        raise PairFormatError(f"{path}: listed in pair.json but missing; rebuild the pair")
    stem = Path(rel).stem
    try:
        arr = np.load(path, mmap_mode="r" if stem in _MMAP else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise PairFormatError(f"{path}: unreadable or truncated .npy ({exc}); rebuild") from exc
    if list(arr.shape) != meta["shape"] or str(arr.dtype) != meta["dtype"]:
        raise PairFormatError(
            f"{path}: shape {list(arr.shape)} dtype {arr.dtype}, pair.json says "
            f"{meta['shape']} {meta['dtype']}; the file was changed after the build"
        )
    return arr


def load_pair(pair_dir: str | Path) -> PairTables:
    """Load and validate a pair directory."""
    root = Path(pair_dir)
    manifest = read_manifest(root)
    try:
        vocab = json.loads((root / "vocab.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PairFormatError(f"{root / 'vocab.json'}: unreadable ({exc}); rebuild") from exc
    if not isinstance(vocab, list) or len(vocab) != manifest.get("vocab_size"):
        raise PairFormatError(f"{root / 'vocab.json'}: expected a list of vocab_size tokens")
    n_aligned = int(manifest.get("n_aligned_examples", 0))
    n_sample = manifest.get("n_sample_examples")
    n_stored = n_aligned if n_sample is None else int(n_sample)  # rows of the act_* arrays
    models = []
    for meta in manifest.get("models", []):
        name = meta["name"]
        base = f"models/{name}"
        arrays = {k: _load_array(root, f"{base}/{k}.npy", manifest, True) for k in _MODEL_ARRAYS}
        optional = {
            k: _load_array(root, f"{base}/{k}.npy", manifest, False) for k in _OPTIONAL_ARRAYS
        }
        n_features = int(meta["n_features"])
        _check_model(root / base, arrays, optional, n_features, len(vocab), n_stored)
        labels_path = root / base / "labels.json"
        labels = {}
        if labels_path.is_file():
            labels = {int(k): str(v) for k, v in json.loads(labels_path.read_text()).items()}
        models.append(
            ModelTables(
                name=name,
                vocab=vocab,
                n_examples=int(meta["n_examples"]),
                labels=labels,
                activation_space=meta.get("activation_space"),
                **arrays,
                **optional,
            )
        )
    if len(models) != 2:
        raise PairFormatError(f"{root / 'pair.json'}: field 'models' must list two models")
    sum_prod = _load_array(root, "cross/sum_prod.npy", manifest, False)
    cofire = _load_array(root, "cross/cofire.npy", manifest, False)
    if sum_prod is not None:
        want = (models[0].n_features, models[1].n_features)
        if sum_prod.shape != want or cofire is None or cofire.shape != want:
            raise PairFormatError(f"{root / 'cross'}: cross arrays must be {want}; rebuild")
    return PairTables(
        models=(models[0], models[1]),
        n_aligned=n_aligned,
        cross_sum_prod=sum_prod,
        cross_cofire=cofire,
        description=manifest.get("description", ""),
        format_version=manifest["format_version"],
        n_sample=None if n_sample is None else int(n_sample),
    )


def _check_model(
    where: Path, arrays: dict, optional: dict, n_features: int, vocab_size: int, n_aligned: int
) -> None:
    ids = arrays["top_token_ids"]
    if ids.shape != (n_features, ids.shape[1]) or ids.max(initial=-1) >= vocab_size:
        raise PairFormatError(f"{where}/top_token_ids.npy: ids must lie in [-1, {vocab_size})")
    if arrays["token_weights"].shape != (n_features, vocab_size):
        raise PairFormatError(f"{where}/token_weights.npy: shape must be [{n_features}, {vocab_size}]")
    for k in ("fire_count", "max_activation", "mean_activation"):
        if arrays[k].shape != (n_features,):
            raise PairFormatError(f"{where}/{k}.npy: shape must be [{n_features}]")
    if optional["act_indptr"] is not None:
        indptr = optional["act_indptr"]
        if indptr.shape != (n_features + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise PairFormatError(f"{where}/act_indptr.npy: must be non-decreasing, F+1 long")
        if optional["act_indices"] is None or len(optional["act_indices"]) != indptr[-1]:
            raise PairFormatError(f"{where}/act_indices.npy: length must equal act_indptr[-1]")
        if len(optional["act_indices"]) and int(optional["act_indices"].max()) >= n_aligned:
            raise PairFormatError(f"{where}/act_indices.npy: example index >= {n_aligned}")
