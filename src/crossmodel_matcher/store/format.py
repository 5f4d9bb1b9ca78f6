"""The on-disk model-pair format (version 2): plain .npy arrays plus a JSON manifest.

Layout of a pair directory::

    pair.json                 manifest: format, version, models, files with size/sha256/shape/dtype
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
    cross/sum_prod.npy                  optional float32 [F_a, F_b]
    cross/cofire.npy                    optional float32 [F_a, F_b]
    cache/...                           derived (alignment), rebuilt when it fails its check

Large arrays are memory-mapped on load. A pair is written into a temporary sibling folder
and swapped into place atomically (`store.cleanup`), so a reader never sees a half-written
pair. Opening a pair checks everything (`store.pair_checks`); `load_pair(verify=True)` also
re-hashes every file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.rules import QUICK_HASH_MAX_BYTES
from crossmodel_matcher.store import pair_checks
from crossmodel_matcher.store.array_checks import CROSS_ARRAYS, MODEL_ARRAYS, OPTIONAL_ARRAYS
from crossmodel_matcher.store.checksums import check_sizes, file_entry, pair_fingerprint, verify_checksums
from crossmodel_matcher.store.cleanup import make_tmp_dir, place, recover_interrupted_swap
from crossmodel_matcher.store.manifest import FORMAT_NAME, FORMAT_VERSION, FileEntry, Manifest, parse_manifest
from crossmodel_matcher.tables import ModelTables, PairTables

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PairFormatError",
    "load_pair",
    "read_manifest",
    "write_pair",
]

TextFiles = dict[str, str | bytes] | Callable[[dict], dict[str, str | bytes]]


def _write_arrays(pair: PairTables, tmp: Path) -> tuple[dict[str, dict], list[dict]]:
    """Every array, vocab and labels file, each with its size and checksum."""
    files: dict[str, dict] = {}

    def save(rel: str, arr: np.ndarray) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.ascontiguousarray(arr), allow_pickle=False)
        files[rel] = {**file_entry(path), "shape": list(arr.shape), "dtype": str(arr.dtype)}

    def save_text(rel: str, text: str) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files[rel] = file_entry(path)

    save_text("vocab.json", json.dumps(pair.vocab))
    models_meta = []
    for m in pair.models:
        base = f"models/{m.name}"
        for name in MODEL_ARRAYS + OPTIONAL_ARRAYS:
            arr = getattr(m, name)
            if arr is not None:
                save(f"{base}/{name}.npy", arr)
        if m.labels:
            save_text(f"{base}/labels.json", json.dumps({str(k): v for k, v in sorted(m.labels.items())}, indent=0))
        models_meta.append(
            {
                "name": m.name,
                "n_features": m.n_features,
                "n_examples": m.n_examples,
                "activation_space": m.activation_space,
                "signals": m.signals,
            }
        )
    if pair.cross_sum_prod is not None:
        save("cross/sum_prod.npy", pair.cross_sum_prod)
        save("cross/cofire.npy", pair.cross_cofire)
    return files, models_meta


def write_pair(
    pair: PairTables, out_dir: str | Path, extra: dict | None = None, text_files: TextFiles | None = None
) -> Path:
    """Write `pair` to `out_dir` atomically (temporary folder, then an atomic swap).

    `text_files` are derived files (relative path -> text or bytes) written inside the same
    folder, unlisted in the manifest; a callable gets the manifest's `files` (to bind a
    cache to this exact pair) and returns them.
    """
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_tmp_dir(out)
    try:
        files, models_meta = _write_arrays(pair, tmp)
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
        derived = text_files(files) if callable(text_files) else (text_files or {})
        for rel, text in derived.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(text if isinstance(text, bytes) else text.encode())
        (tmp / "pair.json").write_text(json.dumps(manifest, indent=2))
        place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_manifest(pair_dir: str | Path) -> dict:
    """The validated manifest as a plain dict (see `store.manifest.Manifest`)."""
    return parse_manifest(pair_dir).model_dump(mode="json")


def _load_array(root: Path, rel: str, manifest: Manifest, dims: pair_checks.Dims) -> np.ndarray:
    """One array: header against the manifest first, then its data and its value range."""
    path = root / rel
    entry = manifest.files[rel]
    stem = Path(rel).stem
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise PairFormatError(f"{path}: unreadable or truncated .npy ({exc}); rebuild the pair") from None
    if list(arr.shape) != entry.shape or str(arr.dtype) != entry.dtype:
        raise PairFormatError(
            f"{path}: header says shape {list(arr.shape)} dtype {arr.dtype}, pair.json records "
            f"{entry.shape} {entry.dtype}; the file was changed after the build; rebuild the pair"
        )
    if stem not in pair_checks.MMAP:
        arr = np.array(arr)  # small, read on every query: held in memory
    problem = pair_checks.value_problem(stem, arr, dims)
    if problem:
        raise PairFormatError(f"{path}: {problem}; the file is damaged; rebuild the pair")
    return arr


def _load_model(root: Path, manifest: Manifest, index: int, vocab: list[str]) -> ModelTables:
    meta = manifest.models[index]
    base = f"models/{meta.name}"
    dims = pair_checks.model_dims(manifest, index)
    arrays = {}
    for name in MODEL_ARRAYS + OPTIONAL_ARRAYS:
        rel = f"{base}/{name}.npy"
        if rel in manifest.files:
            if name == "act_indices":
                dims = pair_checks.with_nnz(dims, arrays["act_indptr"])
            arrays[name] = _load_array(root, rel, manifest, dims)
    labels = pair_checks.read_labels(root, manifest, index)
    return ModelTables(
        name=meta.name,
        vocab=vocab,
        n_examples=meta.n_examples,
        labels=labels,
        activation_space=meta.activation_space,
        **{k: arrays.get(k) for k in MODEL_ARRAYS + OPTIONAL_ARRAYS},
    )


def _load(root: Path, verify: bool) -> PairTables:
    manifest = parse_manifest(root)
    pair_checks.check_layout(root, manifest)
    verify_checksums(root, manifest, None if verify else QUICK_HASH_MAX_BYTES)
    pair_checks.check_memory(root, manifest)
    vocab = pair_checks.read_vocab(root, manifest)
    models = [_load_model(root, manifest, i, vocab) for i in range(2)]
    cross = {}
    if "cross/sum_prod.npy" in manifest.files:
        dims = pair_checks.cross_dims(manifest)
        cross = {k: _load_array(root, f"cross/{k}.npy", manifest, dims) for k in CROSS_ARRAYS}
    return PairTables(
        models=(models[0], models[1]),
        n_aligned=manifest.n_aligned_examples,
        cross_sum_prod=cross.get("sum_prod"),
        cross_cofire=cross.get("cofire"),
        description=manifest.description,
        format_version=manifest.format_version,
        fingerprint=pair_fingerprint(manifest.files),
        n_sample=manifest.n_sample_examples,
    )


def load_pair(pair_dir: str | Path, verify: bool = False) -> PairTables:
    """Load a pair directory, checking its manifest, sizes, headers and values.

    With `verify`, every file is re-hashed against its recorded checksum as well. Any
    problem is a PairFormatError naming the file and what is wrong.
    """
    root = Path(pair_dir)
    if not (root / "pair.json").exists():
        recover_interrupted_swap(root.resolve())
    try:
        return _load(root, verify)
    except PairFormatError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, MemoryError) as exc:
        raise PairFormatError(
            f"{root}: cannot be loaded ({type(exc).__name__}: {str(exc)[:200]}); "
            f"check it with `crossmodel-matcher info --verify --pair {root}` or rebuild the pair"
        ) from None


def quick_check(pair_dir: str | Path) -> Manifest:
    """The checks that read no array data, for a server to run before its transport opens:
    manifest, layout, sizes, every .npy header against the manifest, memory, vocabulary and
    labels. PairFormatError naming the file on any problem; the full load checks the rest."""
    root = Path(pair_dir)
    if not (root / "pair.json").exists():
        recover_interrupted_swap(root.resolve())
    manifest = parse_manifest(root)
    pair_checks.check_layout(root, manifest)
    check_sizes(root, manifest)
    pair_checks.check_memory(root, manifest)
    for rel, entry in manifest.files.items():
        if rel.endswith(".npy"):
            _check_header(root / rel, entry)
    pair_checks.read_vocab(root, manifest)
    for i in range(len(manifest.models)):
        pair_checks.read_labels(root, manifest, i)
    return manifest


def _check_header(path: Path, entry: FileEntry) -> None:
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in readers:
                raise ValueError(f"npy format version {version} is not supported")
            shape, _, dtype = readers[version](fh)
    except (ValueError, OSError, EOFError) as exc:
        raise PairFormatError(f"{path}: unreadable .npy header ({exc}); rebuild the pair") from None
    if list(shape) != entry.shape or str(dtype) != entry.dtype:
        raise PairFormatError(
            f"{path}: header says shape {list(shape)} dtype {dtype}, pair.json records "
            f"{entry.shape} {entry.dtype}; the file was changed after the build; rebuild the pair"
        )
