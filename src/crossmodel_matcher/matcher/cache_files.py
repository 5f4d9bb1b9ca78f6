"""Derived arrays cached beside a pair (`cache/*.npz`): byte-identical for equal arrays, atomic."""

from __future__ import annotations

import io
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
_EPOCH = (1980, 1, 1, 0, 0, 0)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive (np.load reads it) with fixed timestamps: equal arrays, equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            one = io.BytesIO()
            np.save(one, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH), one.getvalue())
    return buf.getvalue()


def write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically (temporary file, then rename); a read-only pair only logs a warning."""
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(npz_bytes(arrays))
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not cache %s (%s); kept in memory", path, exc)


def read(path: Path | None) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None when it is missing or unreadable."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable cache %s (%s); rebuilding", path, exc)
        return None
