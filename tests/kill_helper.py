"""Run `crossmodel-matcher build` in a child process that can be killed at chosen moments.

    python -m tests.kill_helper POINT crossmodel-matcher-build-args...

POINT is `none` (the caller kills at a random moment), or a moment where this process
SIGKILLs itself: `before-swap` (new pair complete, not yet in place), `after-swap` (the
atomic exchange done, the old pair not yet removed), `between-renames` (the two-rename
fallback, killed after the old pair moved away: `--out` is briefly empty), `mid-spill`
(a streamed build's first held rows written). Also writes inputs for such builds.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def make_inputs(folder: Path, n_examples: int = 4000, widths: tuple[int, int] = (64, 256), seed: int = 0) -> list[str]:
    """Two models' CSR activations and token rows; returns the `--model` arguments."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = [[f"t{int(t)}" for t in rng.choice(120, size=6, replace=False)] for _ in range(n_examples)]
    args = []
    for name, width in zip(("narrow", "wide"), widths):
        dense = rng.random((n_examples, width), dtype=np.float32)
        dense[dense < 0.97] = 0
        c = sp.csr_matrix(dense)
        np.savez(folder / f"{name}.npz", indptr=c.indptr, indices=c.indices, data=c.data, shape=np.array(c.shape))
        with open(folder / f"{name}.jsonl", "w") as fh:
            for row in tokens:
                fh.write(json.dumps({"tokens": row}) + "\n")
        (folder / f"{name}-labels.json").write_text(json.dumps({"0": f"{name} zero", "1": f"{name} one"}))
        args.append(
            f"{name}:acts={folder / f'{name}.npz'},tokens={folder / f'{name}.jsonl'},"
            f"labels={folder / f'{name}-labels.json'}"
        )
    return args


def install(point: str) -> None:
    from crossmodel_matcher.store import checkpoint, cleanup

    exchange = cleanup._exchange
    if point == "before-swap":
        cleanup._exchange = lambda a, b: die()
    elif point == "after-swap":
        cleanup._exchange = lambda a, b: exchange(a, b) and die()
    elif point == "between-renames":
        cleanup._exchange = lambda a, b: False
        rename = Path.rename

        def rename_then_die(self: Path, target):
            out = rename(self, target)
            if ".old-" in str(target):
                die()
            return out

        Path.rename = rename_then_die
    elif point == "mid-spill":
        append = checkpoint.HeldRows.append
        count = [0]

        def append_then_die(self, *a, **kw):
            append(self, *a, **kw)
            count[0] += 1
            if count[0] == 1:
                die()

        checkpoint.HeldRows.append = append_then_die
    elif point != "none":
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    install(sys.argv[1])
    from crossmodel_matcher.cli import main

    print("started", flush=True)
    sys.exit(main(["build", *sys.argv[2:]]))
