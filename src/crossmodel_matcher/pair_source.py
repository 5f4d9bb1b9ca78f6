"""Opening, warming and building a pair: the one place above both `store` and `matcher`.

`open_pair` loads a pair directory (checked; `verify` re-hashes every file) and warms it (null
model, alignment from its cache or computed); `build_pair` builds tables from two sources,
computes the alignment and writes both atomically, after removing what killed builds left;
`build_pair_from_inputs` does the same from declared input files.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from crossmodel_matcher.errors import InputError
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.matcher.alignment_cache import CACHE_NAME, dump_cache
from crossmodel_matcher.matcher.cache_files import npz_bytes
from crossmodel_matcher.matcher.null import CACHE_NAME as NULL_CACHE
from crossmodel_matcher.matcher.pool_masses import CACHE_NAME as POOLS_CACHE
from crossmodel_matcher.matcher.shortlists import CACHE_NAME as SHORTLISTS_CACHE
from crossmodel_matcher.store import memory_budget
from crossmodel_matcher.store.checksums import pair_fingerprint
from crossmodel_matcher.store.cleanup import remove_stale
from crossmodel_matcher.store.format import load_pair, write_pair

if TYPE_CHECKING:  # the build path's readers (pyarrow, scipy) load only when a pair is built
    from crossmodel_matcher.store.inputs_reader import BuildSummary, ModelInputs
    from crossmodel_matcher.store.limits import BuildLimits
    from crossmodel_matcher.store.sources import ModelSource


def open_pair(pair_dir: str | Path, progress: bool = False, verify: bool = False) -> Matcher:
    """Load a pair directory (checked, memory-mapped) and warm it: null model, alignment."""
    return Matcher(load_pair(pair_dir, verify=verify), pair_dir, progress)


def build_pair(
    vocab: list[str],
    source_a: ModelSource,
    source_b: ModelSource,
    out_dir: str | Path,
    description: str = "",
    progress: bool = True,
    extra_manifest: dict | None = None,
    limits: BuildLimits | None = None,
    report: dict | None = None,
) -> Path:
    """Build tables from two sources and write the pair directory atomically.

    Temporary folders that killed builds left near `out_dir` (and spill folders) are removed
    first. The model-wide alignment (decompositions, unique features), the null model and the
    find_matches shortlists and the relation pools are computed here too and written with the pair; the alignment
    cache is bound to the pair by its fingerprint. A streamed build keeps its resumable state
    in a hidden sibling of `out_dir` until the pair is written (see `store.checkpoint`); its
    limits go into the manifest, and what it measured into `report` when given (timings stay
    out of the pair, so a rebuild is byte-identical).
    """
    from crossmodel_matcher.store.checkpoint import disk_guard, state_dir_for
    from crossmodel_matcher.store.ingest import build_pair_tables
    from crossmodel_matcher.store.limits import BuildLimits

    remove_stale(Path(out_dir).expanduser().resolve())
    streamed = source_a.activation_stream is not None or source_b.activation_stream is not None
    if streamed:
        limits = limits or BuildLimits()
        if limits.state_dir is None:
            limits = dataclasses.replace(limits, state_dir=state_dir_for(out_dir))
        extra_manifest = {**(extra_manifest or {}), "build_limits": limits.manifest()}
    pair = build_pair_tables(vocab, source_a, source_b, description, progress, limits)
    if report is not None:
        report.update(getattr(pair, "build_report", None) or {})
    t0 = time.perf_counter()
    matcher = Matcher(pair, progress=progress)
    if report is not None:  # null model, relation pools, alignment, shortlists
        report["caches_s"] = round(time.perf_counter() - t0, 1)
    alignment = matcher.alignment.data
    null, lists, pools = matcher.null.arrays(), matcher.shortlists.arrays(), matcher.pools.arrays()

    def caches(files: dict) -> dict[str, str | bytes]:  # derived once here, bound to the pair
        fp = pair_fingerprint(files)
        return {
            CACHE_NAME: dump_cache(alignment, fp),
            NULL_CACHE: npz_bytes(null, fp),
            SHORTLISTS_CACHE: npz_bytes(lists, fp),
            POOLS_CACHE: npz_bytes(pools, fp),
        }

    with disk_guard(Path(out_dir).resolve().parent, "the pair"):
        out = write_pair(pair, out_dir, extra_manifest, text_files=caches)
    if streamed:
        shutil.rmtree(limits.state_dir, ignore_errors=True)  # the pair is complete: nothing to resume
    return out


def build_pair_from_inputs(
    out_dir: str | Path,
    models: list[ModelInputs],
    vocab: str | Path | None = None,
    weapon_vocab: str | Path | None = None,
    description: str = "",
    overwrite: bool = False,
    progress: bool = True,
    limits: BuildLimits | None = None,
    allow_unused_width: bool = False,
) -> BuildSummary:
    """Read, check and map both models' inputs, then build and write the pair atomically.

    Raises `InputError` naming the file, the field and the fix; nothing is written then. A
    declared width far beyond the data's largest feature id is refused unless
    `allow_unused_width` (then a note in the summary); see `store.memory_budget`.
    """
    from crossmodel_matcher.store.inputs_reader import build_summary, read_inputs

    t0 = time.perf_counter()
    out = Path(out_dir).expanduser().resolve()
    shared, sources, manifest = read_inputs(out, models, vocab, weapon_vocab, overwrite)
    try:
        width_notes = memory_budget.check_widths(sources, allow_unused_width)
    except memory_budget.MemoryBudgetError as exc:
        raise InputError(str(exc)) from None
    report: dict = {}
    build_pair(shared, sources[0], sources[1], out, description, progress, manifest, limits, report)
    summary = build_summary(out, sources, time.perf_counter() - t0)
    summary.notes += width_notes
    summary.build_report = report
    return summary
