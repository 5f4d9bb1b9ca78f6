"""Per-file size and SHA-256, written into `pair.json` at build time and checked on open.

Every start runs the fast check: each listed file exists with its recorded size, files up
to `QUICK_HASH_MAX_BYTES` (the manifest-sized tables read whole into memory) are re-hashed,
and the loader checks the larger files' `.npy` headers and values; `info --verify`
re-hashes every byte. SHA-256 reads ~1.5 GB/s on one core with SHA extensions, so a full
verify of the 480 MB demo pair takes about 0.3 s.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.rules import QUICK_HASH_MAX_BYTES  # noqa: F401  (re-exported for the loader)
from crossmodel_matcher.store.manifest import Manifest

ALGORITHM = "sha256"


def file_digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, ALGORITHM).hexdigest()


def file_entry(path: Path) -> dict:
    """`bytes` and `sha256` of a file just written."""
    return {"bytes": path.stat().st_size, "sha256": file_digest(path)}


def pair_fingerprint(files: dict) -> str:
    """A pair's identity: the hash of its files' checksums (the manifest's `files`, as written
    or as parsed); the alignment cache records it, so a cache is only trusted by its own pair."""
    pairs = sorted((rel, e["sha256"] if isinstance(e, dict) else e.sha256) for rel, e in files.items())
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()


def check_sizes(root: Path, manifest: Manifest) -> None:
    """The fast check: every listed file is present with its recorded size."""
    for rel, entry in manifest.files.items():
        path = root / rel
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise PairFormatError(f"{path}: listed in pair.json but missing; rebuild the pair") from None
        except OSError as exc:
            raise PairFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        if not path.is_file():
            raise PairFormatError(f"{path}: listed in pair.json but is not a file; rebuild the pair")
        if size != entry.bytes:
            raise PairFormatError(
                f"{path}: {size:,} bytes, pair.json records {entry.bytes:,}; the file was "
                "truncated or changed after the build; rebuild the pair"
            )


def verify_checksums(root: Path, manifest: Manifest, max_bytes: int | None = None) -> int:
    """Re-hash every listed file (up to `max_bytes` each, if given) against pair.json.

    Returns the number of bytes read.
    """
    check_sizes(root, manifest)
    total = 0
    for rel, entry in manifest.files.items():
        if max_bytes is not None and entry.bytes > max_bytes:
            continue
        path = root / rel
        try:
            digest = file_digest(path)
        except OSError as exc:
            raise PairFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        if digest != entry.sha256:
            raise PairFormatError(
                f"{path}: checksum mismatch (sha256 {digest[:12]}..., pair.json records "
                f"{entry.sha256[:12]}...); the file was changed after the build; rebuild the pair"
            )
        total += entry.bytes
    return total
