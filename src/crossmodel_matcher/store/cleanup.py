"""Crash-safe placement of a pair folder, and removal of what killed builds left behind.

Temporary folders carry the writer's pid in their name (`.<out>.tmp-<pid>-<random>`,
`.crossmodel-spill-<pid>-<random>`, `.<out>.old-<pid>`), so the next build can tell a live
writer's folder (left alone) from a dead one's (removed).

Replacing a pair (`--force`) uses Linux's `renameat2(RENAME_EXCHANGE)`: the new folder and
the old one trade places in one atomic step, so `--out` always names one complete pair,
whenever the process dies, and stays a real folder (a symlink flip would also be atomic,
but turns `--out` into a link and leaves versioned folders beside it). Where the exchange
is unavailable (not Linux, or a file system without it) two renames are used; a kill
between them leaves the old pair as `.<out>.old-<pid>`, which the next build or load puts
back at `--out` before anything else.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from crossmodel_matcher.rules import LEGACY_STALE_SECONDS

log = logging.getLogger(__name__)
SPILL_PREFIX = ".crossmodel-spill-"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def make_tmp_dir(out: Path) -> Path:
    """A fresh sibling folder of `out` to write a pair into."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))


def make_spill_dir(parent: str | Path | None = None) -> Path:
    """A fresh folder for a streamed build's spilled blocks (the system temp dir by default)."""
    return Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-", dir=parent))


def _owner(name: str, marker: str) -> int | None:
    m = re.match(rf".*{re.escape(marker)}(\d+)(?:-|$)", name)
    return int(m.group(1)) if m else None


def _stale(path: Path, marker: str) -> bool:
    pid = _owner(path.name, marker)
    if pid is not None:
        return pid != os.getpid() and not pid_alive(pid)
    try:
        return time.time() - path.stat().st_mtime > LEGACY_STALE_SECONDS
    except OSError:
        return False


def recover_interrupted_swap(out: Path) -> bool:
    """Put a pair back at `out` when a two-rename replacement died between its renames."""
    if out.exists() or not out.parent.is_dir():
        return False
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):
        if _stale(old, ".old-") and (old / "pair.json").is_file():
            try:
                old.rename(out)
            except OSError:
                continue
            log.warning("restored %s from an interrupted replacement (%s)", out, old.name)
            return True
    return False


def remove_stale(out: Path, spill_parent: str | Path | None = None) -> list[str]:
    """Remove temporary folders of dead writers near `out` and in the spill folder."""
    removed: list[str] = []
    recover_interrupted_swap(out)
    candidates: list[tuple[Path, str]] = []
    if out.parent.is_dir():
        for marker in (".tmp-", ".old-"):
            candidates += [(p, marker) for p in out.parent.glob(f".{out.name}{marker}*")]
    spill_root = Path(spill_parent or tempfile.gettempdir())
    if spill_root.is_dir():
        candidates += [(p, SPILL_PREFIX) for p in spill_root.glob(f"{SPILL_PREFIX}*")]
    for path, marker in candidates:
        if path.is_dir() and not path.is_symlink() and _stale(path, marker):
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(str(path))
    for path in removed:
        log.info("removed %s, left by a build that did not finish", path)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False when the system cannot."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def place(tmp: Path, out: Path) -> None:
    """Move the finished pair at `tmp` to `out`, replacing a pair there atomically."""
    if not out.exists():
        tmp.rename(out)
        return
    if _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # now the old pair; a kill here leaves a dead .tmp-
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
