"""Derived arrays cached beside a pair (`cache/*.npz`): byte-identical for equal arrays, atomic,
bound to their pair and checksummed.

Each archive also holds `_pair` (the fingerprint of the pair it was computed from,
`PairTables.fingerprint`) and `_sha256` (over every other array's name, dtype, shape and
bytes). `read` returns the arrays only when both match; otherwise it says why in a warning and
the caller rebuilds the cache.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
_EPOCH = (1980, 1, 1, 0, 0, 0)
_PAIR, _SHA = "_pair", "_sha256"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _text(s: str | None) -> np.ndarray:
    return np.frombuffer((s or "").encode(), dtype=np.uint8)


def npz_bytes(arrays: dict[str, np.ndarray], fingerprint: str | None = None) -> bytes:
    """An .npz archive (np.load reads it) with fixed timestamps: equal arrays, equal bytes."""
    signed = {**arrays, _PAIR: _text(fingerprint), _SHA: _text(_digest(arrays))}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(signed):
            one = io.BytesIO()
            np.save(one, np.ascontiguousarray(signed[name]), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH), one.getvalue())
    return buf.getvalue()


def write(path: Path, arrays: dict[str, np.ndarray], fingerprint: str | None = None) -> None:
    """Write atomically (temporary file, then rename); a read-only pair only logs a warning."""
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(npz_bytes(arrays, fingerprint))
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not cache %s (%s); kept in memory", path, exc)


def read(path: Path | None, fingerprint: str | None = None) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file; None (with a warning) when it is missing or fails its check."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("cache %s fails its check (unreadable: %s); rebuilding it", path, exc)
        return None
    pair, sha = arrays.pop(_PAIR, None), arrays.pop(_SHA, None)
    if pair is None or sha is None or pair.tobytes().decode(errors="replace") != (fingerprint or ""):
        log.warning("cache %s fails its check (computed for another pair); rebuilding it", path)
        return None
    if sha.tobytes().decode(errors="replace") != _digest(arrays):
        log.warning("cache %s fails its check (checksum mismatch); rebuilding it", path)
        return None
    return arrays
