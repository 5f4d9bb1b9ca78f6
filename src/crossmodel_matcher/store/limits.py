"""The limits a user sets on a build, with their defaults; recorded in the manifest.

- `max_examples`: read at most this many rows of each model's activations (its first rows);
- `sample_examples`: aligned examples whose per-example activations the pair keeps (for
  find_decomposition's regression): the ones whose 64-bit BLAKE2b hash of the example key is
  smallest, so the sample is deterministic and the same whatever the row order or model;
  every other figure (correlation, co-firing, containment) rests on all aligned examples;
- `memory_limit`: the one memory setting (`--memory-limit`, alias `--memory-budget`;
  $CROSSMODEL_MATCHER_MEMORY_LIMIT; default a share of physical memory, see
  `store.memory_budget.memory_limit`). A build whose estimated allocations exceed it is
  refused before anything is spent, and a streamed build sizes its blocks of rows from it:
  one block is `1/BLOCK_SHARE` of the limit, so the blocks in flight (a block, the one read
  ahead, their working copies) stay a small share and the rest is headroom for the estimated
  fixed allocations (totals, sample, token tables) and what no estimate sees;
- `device`: where the block products run (`cpu`, `cuda`, `auto`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from crossmodel_matcher.rules import (
    BLOCK_SHARE,
    CHECKPOINT_SECONDS,
    DEFAULT_SAMPLE_EXAMPLES,
    MAX_BLOCK_BYTES,
    MIN_BLOCK_BYTES,
)
from crossmodel_matcher.store.memory_budget import memory_limit as resolve_memory_limit


@dataclass
class BuildLimits:
    max_examples: int | None = None
    sample_examples: int = DEFAULT_SAMPLE_EXAMPLES
    memory_limit: int | None = None  # bytes; None: $CROSSMODEL_MATCHER_MEMORY_LIMIT or the default share
    device: str = "cpu"
    state_dir: Path | None = None  # where a resumable build keeps its state; None: no resume
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    block_bytes: int | None = None  # dense bytes per block of rows; None: from memory_limit
    memory_source: str = field(default="", repr=False)  # where memory_limit came from (for errors)

    def __post_init__(self) -> None:
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"max_examples={self.max_examples}: must be at least 1")
        if self.sample_examples < 0:
            raise ValueError(f"sample_examples={self.sample_examples}: must be 0 or more")
        if self.memory_limit is not None and self.memory_limit < 1:
            raise ValueError(f"memory_limit={self.memory_limit}: must be a positive size")
        if not self.memory_source:
            self.memory_limit, self.memory_source = resolve_memory_limit(self.memory_limit)
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device={self.device!r}: use cpu, cuda or auto")

    def block_size(self) -> int:
        """Dense bytes of one block of rows: `1/BLOCK_SHARE` of the memory limit, clamped."""
        if self.block_bytes is not None:
            return self.block_bytes
        return int(min(MAX_BLOCK_BYTES, max(MIN_BLOCK_BYTES, self.memory_limit // BLOCK_SHARE)))

    def manifest(self) -> dict:
        return {
            "max_examples": self.max_examples,
            "sample_examples": self.sample_examples,
            "memory_limit": self.memory_limit,
            "device": self.device,
        }
