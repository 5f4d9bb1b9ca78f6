"""Opening, warming and building a pair: the one place above both `store` and `matcher`.

`open_pair` loads a pair directory and warms it (null model, alignment from its cache or
computed); `build_pair` builds tables from two sources, computes the alignment and writes
both atomically; `build_pair_from_inputs` does the same from declared input files.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.matcher.alignment import CACHE_NAME
from crossmodel_matcher.matcher.cache_files import npz_bytes
from crossmodel_matcher.matcher.null import CACHE_NAME as NULL_CACHE
from crossmodel_matcher.matcher.shortlists import CACHE_NAME as SHORTLISTS_CACHE
from crossmodel_matcher.store.format import load_pair, write_pair

if TYPE_CHECKING:  # the build path's readers (pyarrow, scipy) load only when a pair is built
    from crossmodel_matcher.store.inputs_reader import BuildSummary, ModelInputs
    from crossmodel_matcher.store.sources import ModelSource


def open_pair(pair_dir: str | Path, progress: bool = False) -> Matcher:
    """Load a pair directory (validated, memory-mapped) and warm it: null model, alignment."""
    return Matcher(load_pair(pair_dir), pair_dir, progress)


def build_pair(
    vocab: list[str],
    source_a: ModelSource,
    source_b: ModelSource,
    out_dir: str | Path,
    description: str = "",
    progress: bool = True,
    extra_manifest: dict | None = None,
) -> Path:
    """Build tables from two sources and write the pair directory atomically.

    The model-wide alignment (decompositions, unique features), the null model and the
    find_matches shortlists are computed here too and written with the pair.
    """
    from crossmodel_matcher.store.ingest import build_pair_tables

    pair = build_pair_tables(vocab, source_a, source_b, description, progress)
    matcher = Matcher(pair, progress=progress)
    caches = {  # derived once here, so serving the pair never waits for them
        CACHE_NAME: json.dumps(matcher.alignment.data),
        NULL_CACHE: npz_bytes(matcher.null.arrays()),
        SHORTLISTS_CACHE: npz_bytes(matcher.shortlists.arrays()),
    }
    return write_pair(pair, out_dir, extra_manifest, text_files=caches)


def build_pair_from_inputs(
    out_dir: str | Path,
    models: list[ModelInputs],
    vocab: str | Path | None = None,
    weapon_vocab: str | Path | None = None,
    description: str = "",
    overwrite: bool = False,
    progress: bool = True,
) -> BuildSummary:
    """Read, check and map both models' inputs, then build and write the pair atomically.

    Raises `InputError` naming the file, the field and the fix; nothing is written then.
    """
    from crossmodel_matcher.store.inputs_reader import build_summary, read_inputs

    t0 = time.perf_counter()
    out = Path(out_dir).expanduser().resolve()
    shared, sources, manifest = read_inputs(out, models, vocab, weapon_vocab, overwrite)
    build_pair(shared, sources[0], sources[1], out, description, progress, manifest)
    return build_summary(out, sources, time.perf_counter() - t0)
