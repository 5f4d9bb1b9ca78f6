"""Memory checked before it is spent: sizes from user input are estimated, then allowed or refused.

Every allocation whose size a user controls (a declared width, a shape in a file header,
a vocabulary) is estimated here first. Above the budget the build (or the load) is refused
with one line naming the field, the size it would take and the limit. The limit is the
project's one memory setting: `DEFAULT_SHARE` of the machine's physical memory unless
`build --memory-limit` (hidden alias `--memory-budget`) or $CROSSMODEL_MATCHER_MEMORY_LIMIT
sets it (`8G`, `512M`, `1.5T` or plain bytes, parsed by `parse_size`). The same value sizes a
streamed build's blocks of rows (`store.limits.BuildLimits`) and is recorded in its manifest.

Also here: a declared width far beyond the largest feature id the data uses (an npz whose
`shape` claims 10^6 features with data in 24 columns) is refused unless confirmed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from crossmodel_matcher.rules import FALLBACK_MEMORY, UNUSED_WIDTH_MIN
from crossmodel_matcher.rules import MEMORY_DEFAULT_SHARE as DEFAULT_SHARE

LIMIT_ENV = "CROSSMODEL_MATCHER_MEMORY_LIMIT"

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


class MemoryBudgetError(ValueError):
    """A planned allocation over the budget (callers re-raise it as their own error type)."""


def machine_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return FALLBACK_MEMORY


def parse_size(text: str) -> int:
    """`8G`, `512M`, `1.5T`, `123456` (bytes) -> bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"memory limit {text!r}: use a size such as 8G, 512M or a number of bytes")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


LIMIT_OPTION = "--memory-limit"
"""The build option that sets the limit; `--memory-budget` is its hidden alias."""


def memory_limit(override: str | int | None = None) -> tuple[int, str]:
    """The limit in bytes and where it came from (for the error message)."""
    if override is not None:
        return (override if isinstance(override, int) else parse_size(override)), LIMIT_OPTION
    env = os.environ.get(LIMIT_ENV)
    if env:
        return parse_size(env), f"${LIMIT_ENV}"
    return int(machine_memory() * DEFAULT_SHARE), f"{DEFAULT_SHARE:.0%} of this machine's memory"


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} EB"


@dataclass(frozen=True)
class Need:
    """One planned allocation: what it is, the field that sizes it, and its bytes."""

    what: str
    field: str
    bytes: int


def token_table_needs(name: str, field: str, n_features: int, vocab_size: int, building: bool) -> list[Need]:
    """A model's token tables: weights [F, V] (float64 intermediates while building), top-50 sets."""
    per_cell = 40 if building else 9  # building: four float64 [F, V] passes + the float32 result
    return [
        Need(f"token tables of model {name!r} ({n_features:,} features x {vocab_size:,} tokens)",
             field, per_cell * n_features * vocab_size),
        Need(f"top-50 token sets of model {name!r}", field, 400 * n_features),
    ]


def cross_needs(fa: int, fb: int, field: str, building: bool) -> list[Need]:
    """The all-pairs statistics: two float32 [F_a, F_b] arrays (plus one copy while building)."""
    per_cell = 12 if building else 8
    return [Need(f"cross statistics ({fa:,} x {fb:,} features)", field, per_cell * fa * fb)]


def require_within(
    needs: list[Need], limit: int | str | None = None, raise_with: str = "", source: str = ""
) -> int:
    """Total planned bytes; MemoryBudgetError naming the largest need when over the limit.

    `source` says where a given `limit` came from (default: the option).
    """
    total = sum(n.bytes for n in needs)
    budget, found = memory_limit(limit)
    source = source or found
    if total > budget:
        top = max(needs, key=lambda n: n.bytes)
        raise MemoryBudgetError(
            f"{top.field}: would need about {human(total)} of memory ({top.what}: {human(top.bytes)}), "
            f"over the limit of {human(budget)} ({source}); check that field, or raise the limit "
            f"with {raise_with or f'{LIMIT_OPTION} or ${LIMIT_ENV}'}"
        )
    return total


def unused_width(declared: int, largest_id: int | None) -> int:
    """How many trailing feature ids the data never uses, when suspiciously many; else 0."""
    if largest_id is None:
        return 0
    tail = declared - (largest_id + 1)
    return tail if tail >= UNUSED_WIDTH_MIN and tail > declared / 2 else 0


def width_field(src) -> str:
    """Where a model source's width came from, for the error message."""
    stream = getattr(src, "activation_stream", None)
    if stream is not None:
        return f"{stream.origin}: field 'shape' (n_features={src.n_features:,}, model {src.name!r})"
    return f"{src.origin}: n_features={src.n_features:,} (model {src.name!r})"


def build_needs(sources, vocab_size: int) -> list[Need]:
    """The planned peak of a build from two `ingest.ModelSource`s, before anything is derived."""
    needs: list[Need] = []
    for src in sources:
        needs += token_table_needs(src.name, width_field(src), src.n_features, vocab_size, True)
    a, b = sources
    with_acts = [s.activations is not None or s.activation_stream is not None for s in sources]
    if all(with_acts):
        wider = a if a.n_features >= b.n_features else b
        needs += cross_needs(a.n_features, b.n_features, width_field(wider), True)
    return needs


def largest_used_id(src) -> int | None:
    """The largest feature id the source's data uses (None when it cannot be told cheaply)."""
    found: list[int] = []
    matrix = getattr(getattr(src, "activation_stream", None), "matrix", None)
    if matrix is None:
        matrix = getattr(src, "activations", None)
    if matrix is not None:
        found.append(int(matrix.indices.max()) if matrix.nnz else -1)
    top = getattr(src, "top_examples", None)
    if top is not None:
        found.append(int(top.feature_id.max()) if len(top.feature_id) else -1)
    return max(found) if found else None


def check_widths(sources, allow_unused: bool) -> list[str]:
    """Refuse a declared width far beyond the data's largest feature id (unless allowed).

    Returns the summary notes for widths allowed that way.
    """
    notes = []
    for src in sources:
        largest = largest_used_id(src)
        tail = unused_width(src.n_features, largest)
        if not tail:
            continue
        text = (
            f"{width_field(src)} declares {src.n_features:,} features but the data's largest "
            f"feature id is {largest:,}: the last {tail:,} features never appear"
        )
        if not allow_unused:
            raise MemoryBudgetError(
                f"{text}; check that field, or pass --allow-unused-width to build them anyway"
            )
        notes.append(f"{text} (built anyway: --allow-unused-width)")
    return notes
