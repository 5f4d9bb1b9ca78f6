"""Generic activations: a CSR `.npz` or a dense `.npy` (rows examples, columns features), plus
each row's tokens (JSON lines) and, optionally, explicit example keys.

The `.npz` holds `indptr`, `indices`, `data` and `shape` (what `scipy.sparse.save_npz`
writes, among others). A dense `.npy` is never loaded whole: it is read block by block from
the file and each block sparsified, so any size streams in bounded memory.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.errors import InputError
from crossmodel_matcher.store.activation_stream import CsrStream, block_rows, sparsify_block
from crossmodel_matcher.store.tables_reader import read_table, require, token_lists
from crossmodel_matcher.store.vocab_reader import IdVocab, LocalTokens


def read_activations(path: str | Path) -> CsrStream | DenseNpyStream:
    """The activations file as a stream of row blocks (checked for shape, dtype, NaN, sign)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.suffix == ".npz":
        return _read_npz(path)
    if path.suffix == ".npy":
        return DenseNpyStream(path)
    raise InputError(f"{path}: activations must be a CSR .npz or a dense .npy")


def _read_npz(path: Path) -> CsrStream:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("indptr", "indices", "data", "shape") if k in z.files}
            files = z.files
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npz ({exc}); re-save it with numpy/scipy") from None
    missing = [k for k in ("indptr", "indices", "data", "shape") if k not in arrays]
    if missing:
        raise InputError(
            f"{path}: missing array {missing[0]!r} (found {', '.join(files)}); a CSR .npz holds "
            "indptr, indices, data and shape (scipy.sparse.save_npz writes them)"
        )
    shape = arrays["shape"]
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or shape.min() < 0:
        raise InputError(f"{path}: field 'shape' must be two non-negative integers [examples, features]")
    n, f = int(shape[0]), int(shape[1])
    indptr, indices, data = arrays["indptr"], arrays["indices"], arrays["data"]
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise InputError(f"{path}: fields 'indptr' and 'indices' must be integer arrays")
    if data.dtype.kind != "f":
        raise InputError(f"{path}: field 'data' has dtype {data.dtype}; activations must be floating point")
    if indptr.shape != (n + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise InputError(f"{path}: field 'indptr' must be non-decreasing, start at 0 and hold {n + 1} values")
    if int(indptr[-1]) != len(indices) or len(indices) != len(data):
        raise InputError(
            f"{path}: indptr ends at {int(indptr[-1])} but 'indices' has {len(indices)} and 'data' "
            f"{len(data)} entries; they must agree (is the file truncated?)"
        )
    if len(indices) and (indices.min() < 0 or indices.max() >= f):
        raise InputError(f"{path}: field 'indices' holds a feature id outside [0, {f}); check 'shape'")
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path}: field 'data' holds NaN or inf; clean the activations")
    if len(data) and data.min() < 0:
        raise InputError(
            f"{path}: field 'data' holds negative activations ({float(data.min()):.4g}); SAE activations "
            "are >= 0 (store post-ReLU activations)"
        )
    csr = sp.csr_matrix(
        (data.astype(np.float32), indices.astype(np.int32), indptr.astype(np.int64)), shape=(n, f)
    )
    return CsrStream(csr, str(path))


class DenseNpyStream:
    """A dense [examples, features] `.npy`, read block by block with plain file reads."""

    def __init__(self, path: Path):
        self.path, self.origin = path, str(path)
        try:
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                header = {
                    (1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0,
                }
                if version not in header:
                    raise ValueError(f"npy format version {version} is not supported")
                shape, fortran, dtype = header[version](fh)
                self.offset = fh.tell()
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{path}: not a readable .npy ({exc}); re-save it with numpy.save") from None
        if len(shape) != 2:
            raise InputError(f"{path}: shape {shape}; dense activations must be 2-D [examples, features]")
        if fortran:
            raise InputError(f"{path}: Fortran-ordered array; save it C-ordered (np.ascontiguousarray)")
        if dtype.kind != "f":
            raise InputError(f"{path}: dtype {dtype}; activations must be floating point (float32)")
        self.dtype = dtype
        self.n_examples, self.n_features = int(shape[0]), int(shape[1])
        want = self.offset + self.n_examples * self.n_features * dtype.itemsize
        have = path.stat().st_size
        if have < want:
            raise InputError(f"{path}: file is truncated ({have} of {want} bytes); re-save it")

    def blocks(self) -> Iterator[tuple[int, sp.csr_matrix]]:
        step = block_rows(self.n_features)
        row_bytes = self.n_features * self.dtype.itemsize
        with open(self.path, "rb") as fh:
            for lo in range(0, self.n_examples, step):
                hi = min(self.n_examples, lo + step)
                fh.seek(self.offset + lo * row_bytes)
                block = np.fromfile(fh, dtype=self.dtype, count=(hi - lo) * self.n_features)
                if len(block) != (hi - lo) * self.n_features:
                    raise InputError(f"{self.path}: file ended early at row {lo}; re-save it")
                where = f"{self.path}, rows {lo}..{hi - 1}"
                yield lo, sparsify_block(block.reshape(hi - lo, self.n_features), where)


def read_example_tokens(path: str | Path, vocab: IdVocab | None) -> tuple[LocalTokens, np.ndarray | None]:
    """JSON lines, one {"tokens": [...], "example_key": "..."?} per activation row, same order."""
    path = Path(path)
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise InputError(
            f'{path}: example tokens must be JSON lines (.jsonl), one {{"tokens": [...]}} per row'
        )
    table = read_table(path)
    col = require(table, path, "tokens", ("token_ids",))
    tokens = token_lists(table.column(col), f"{path}, field {col!r}", vocab)
    keys = None
    if "example_key" in table.column_names:
        keys = _string_column(table.column("example_key").to_pylist(), path, "example_key")
    return tokens, keys


def read_keys(path: str | Path) -> np.ndarray:
    """Explicit example keys: a text file, one key per line, in activation-row order."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable text file ({exc})") from None
    return _string_column(lines, path, "key")


def _string_column(values: list, path: Path, field: str) -> np.ndarray:
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v:
            raise InputError(
                f"{path}: {field} of row {i} is {v!r}; every example needs a non-empty string key"
            )
    return np.asarray(values, dtype=str)
