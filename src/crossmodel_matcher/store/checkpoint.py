"""A streamed build's state on disk: the held model's aligned rows and checkpointed partial sums.

The state lives in a hidden sibling of the pair folder, `.<pair name>.build-state/`:

    held.json, held_indices.bin, held_data.bin, held_offsets.npy, held_lengths.npy
        the narrow model's aligned rows (written once, in its row order), addressable by
        aligned example index, so the wide model's blocks gather theirs without holding them;
    checkpoint/state.json + *.npy
        partial sums after the last completed block (replaced atomically: written into a
        temporary folder, then renamed).

A build that is killed resumes from the checkpoint when the inputs and options fingerprint
the same; the folder is removed once the pair is written. A full disk is an `InputError`
naming the path, and nothing half-written is kept.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from crossmodel_matcher.errors import InputError

STATE_VERSION = 1


@contextmanager
def disk_guard(path: Path, what: str) -> Iterator[None]:
    """Turn a full disk (or quota) while writing under `path` into a clear InputError."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InputError(
                f"{path}: the disk is full while writing {what}; free space there (or point the "
                "build elsewhere) and run it again: it resumes from its last checkpoint"
            ) from None
        raise


def state_dir_for(out_dir: str | Path) -> Path:
    out = Path(out_dir).resolve()
    return out.parent / f".{out.name}.build-state"


class HeldRows:
    """The narrow model's aligned rows on disk, appended in its row order, read back by
    aligned example index (a memory map opened per gather, so nothing stays resident)."""

    def __init__(self, folder: Path, n_aligned: int, n_features: int):
        self.folder, self.n_aligned, self.n_features = folder, n_aligned, n_features
        self.offsets = np.zeros(n_aligned, dtype=np.int64)
        self.lengths = np.zeros(n_aligned, dtype=np.int32)
        self.idx_dtype = np.int16 if n_features <= np.iinfo(np.int16).max else np.int32
        self.nnz = 0

    @property
    def _files(self) -> tuple[Path, Path]:
        return self.folder / "held_indices.bin", self.folder / "held_data.bin"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for f in self._files:
            f.write_bytes(b"")
        self.nnz = 0

    def append(self, positions: np.ndarray, rows: sp.csr_matrix) -> None:
        lengths = np.diff(rows.indptr)
        self.offsets[positions] = self.nnz + rows.indptr[:-1]
        self.lengths[positions] = lengths
        fi, fd = self._files
        with disk_guard(self.folder, "the held rows"):
            with open(fi, "ab") as h:
                h.write(rows.indices.astype(self.idx_dtype).tobytes())
            with open(fd, "ab") as h:
                h.write(rows.data.astype(np.float32).tobytes())
        self.nnz += int(rows.indptr[-1])

    def finish(self) -> None:
        with disk_guard(self.folder, "the held rows"):
            np.save(self.folder / "held_offsets.npy", self.offsets)
            np.save(self.folder / "held_lengths.npy", self.lengths)
            _atomic_text(self.folder / "held.json", json.dumps({"nnz": self.nnz, "n": self.n_aligned}))

    def load(self) -> bool:
        """Reopen rows written by an earlier run; False when they are absent or incomplete."""
        try:
            meta = json.loads((self.folder / "held.json").read_text())
            offsets = np.load(self.folder / "held_offsets.npy")
            lengths = np.load(self.folder / "held_lengths.npy")
        except (OSError, ValueError):
            return False
        fi, fd = self._files
        ok = (
            meta.get("n") == self.n_aligned
            and len(offsets) == self.n_aligned
            and fi.is_file()
            and fi.stat().st_size == meta["nnz"] * np.dtype(self.idx_dtype).itemsize
            and fd.is_file()
            and fd.stat().st_size == meta["nnz"] * 4
        )
        if ok:
            self.offsets, self.lengths, self.nnz = offsets, lengths, int(meta["nnz"])
        return bool(ok)

    def gather(self, positions: np.ndarray) -> sp.csr_matrix:
        """Rows at these aligned indices, in this order, as float32 CSR [len, F]; a negative
        index gives an empty row."""
        ok = positions >= 0
        safe = np.where(ok, positions, 0)
        lengths = np.where(ok, self.lengths[safe], 0).astype(np.int64)
        indptr = np.zeros(len(positions) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        flat = np.repeat(self.offsets[safe] - indptr[:-1], lengths) + np.arange(indptr[-1])
        if self.nnz == 0:
            return sp.csr_matrix((len(positions), self.n_features), dtype=np.float32)
        fi, fd = self._files
        mi = np.memmap(fi, dtype=self.idx_dtype, mode="r", shape=(self.nnz,))
        md = np.memmap(fd, dtype=np.float32, mode="r", shape=(self.nnz,))
        try:
            indices, data = mi[flat].astype(np.int32), np.array(md[flat])
        finally:
            del mi, md
        return sp.csr_matrix((data, indices, indptr), shape=(len(positions), self.n_features))


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Checkpoint:
    """Partial sums of a streamed build, saved after completed blocks and replaced atomically."""

    def __init__(self, folder: Path, fingerprint: str):
        self.folder, self.fingerprint = folder, fingerprint
        self.path = folder / "checkpoint"

    def save(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".checkpoint.tmp-", dir=self.folder))
        try:
            with disk_guard(self.folder, "a checkpoint"):
                for name, arr in arrays.items():
                    np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
                body = {"version": STATE_VERSION, "fingerprint": self.fingerprint, **meta}
                (tmp / "state.json").write_text(json.dumps(body))
            old = self.folder / ".checkpoint.old"
            shutil.rmtree(old, ignore_errors=True)
            if self.path.exists():
                self.path.rename(old)
            tmp.rename(self.path)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def load(self) -> tuple[dict, dict[str, np.ndarray]] | None:
        """The last checkpoint when it belongs to this build (same fingerprint), else None."""
        try:
            meta = json.loads((self.path / "state.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("version") != STATE_VERSION or meta.get("fingerprint") != self.fingerprint:
            return None
        try:
            arrays = {p.stem: np.load(p, allow_pickle=False) for p in self.path.glob("*.npy")}
        except (OSError, ValueError):
            return None
        return meta, arrays

    def matches(self) -> bool:
        """True when the folder holds state of this very build (so held rows may be reused)."""
        try:
            return json.loads((self.path / "state.json").read_text()).get("fingerprint") == self.fingerprint
        except (OSError, ValueError):
            return False

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
