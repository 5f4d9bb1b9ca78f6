"""The limits a user sets on a streamed build, with their defaults; recorded in the manifest.

- `max_examples`: read at most this many rows of each model's activations (its first rows);
- `sample_examples`: aligned examples whose per-example activations the pair keeps (for
  find_decomposition's regression): the ones whose 64-bit BLAKE2b hash of the example key is
  smallest, so the sample is deterministic and the same whatever the row order or model;
  every other figure (correlation, co-firing, containment) rests on all aligned examples;
- `memory_budget`: bytes the build aims to stay under; it sizes the blocks of rows;
- `device`: where the block products run (`cpu`, `cuda`, `auto`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SAMPLE_EXAMPLES = 50_000
DEFAULT_MEMORY_BUDGET = 6 << 30
DEFAULT_MEMORY_BUDGET_TEXT = "6G"
MIN_MEMORY_BUDGET = 1 << 30
CHECKPOINT_SECONDS = 120.0
"""A streamed build saves its partial sums at most this often (and after the narrow model)."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'8G', '512M', '6GiB', '1500000000' as bytes (ValueError naming the text otherwise)."""
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"memory size {text!r}: write it as e.g. 8G, 512M or a number of bytes")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


@dataclass
class BuildLimits:
    max_examples: int | None = None
    sample_examples: int = DEFAULT_SAMPLE_EXAMPLES
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    device: str = "cpu"
    state_dir: Path | None = None  # where a resumable build keeps its state; None: no resume
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    block_bytes: int | None = None  # dense bytes per block of rows; None: from memory_budget

    def __post_init__(self) -> None:
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"max_examples={self.max_examples}: must be at least 1")
        if self.sample_examples < 0:
            raise ValueError(f"sample_examples={self.sample_examples}: must be 0 or more")
        if self.memory_budget < MIN_MEMORY_BUDGET:
            raise ValueError(f"memory_budget={self.memory_budget}: give at least 1G")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device={self.device!r}: use cpu, cuda or auto")

    def block_size(self) -> int:
        """Dense bytes of one block of rows: a budget share (blocks in flight, their copies)."""
        if self.block_bytes is not None:
            return self.block_bytes
        return int(min(512 << 20, max(32 << 20, self.memory_budget // 24)))

    def manifest(self) -> dict:
        return {
            "max_examples": self.max_examples,
            "sample_examples": self.sample_examples,
            "memory_budget": self.memory_budget,
            "device": self.device,
        }
