"""The alignment cache on disk: bound to its pair, checksummed, checked before it is trusted.

The file wraps the alignment data with the fingerprint of the pair it was computed from
(`PairTables.fingerprint`, a hash of the pair's file checksums) and the SHA-256 of the data. Reading returns
the data only when the fingerprint and checksum match, the structure validates, and every
length, id and dead flag agrees with the loaded pair; otherwise it says why, and the
caller recomputes the alignment and rewrites the cache (a warning, never an error).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crossmodel_matcher.schemas import AlignmentSummary, Verdict

CACHE_NAME = "cache/alignment-v3.json"  # v3: wrapped with the pair fingerprint and a checksum
CACHE_KIND = "crossmodel-matcher-alignment"

Flag = Literal[0, 1]
FeatureId = Annotated[int, Field(strict=True, ge=0)]


class AlignmentData(BaseModel):
    """What `matcher.alignment.compute_alignment` returns."""

    model_config = ConfigDict(extra="forbid", strict=True)
    narrow_model: str | None
    narrow_verdicts: dict[str, Verdict]
    narrow_parts: dict[str, list[FeatureId]]
    has_counterpart: dict[str, list[Flag]]
    dead: dict[str, list[Flag]]
    summary: AlignmentSummary


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def dump_cache(data: dict, pair_fp: str | None) -> str:
    return json.dumps(
        {
            "kind": CACHE_KIND,
            "pair_fingerprint": pair_fp,
            "data_sha256": hashlib.sha256(_canonical(data)).hexdigest(),
            "data": data,
        }
    )


def _consistency(data: AlignmentData, pair) -> str | None:
    """Why the cache does not describe `pair`; None when it does."""
    names = [m.name for m in pair.models]
    if sorted(data.has_counterpart) != sorted(names) or sorted(data.dead) != sorted(names):
        return f"its models are not {names}"
    for m in pair.models:
        if len(data.has_counterpart[m.name]) != m.n_features or len(data.dead[m.name]) != m.n_features:
            return f"its flags for {m.name!r} do not have {m.n_features} entries"
        if not np.array_equal(np.array(data.dead[m.name], dtype=bool), m.dead):
            return f"its dead features of {m.name!r} differ from the pair's"
    if data.narrow_model is None:
        return None if not data.narrow_verdicts else "verdicts without a narrow model"
    if data.narrow_model not in names:
        return f"narrow model {data.narrow_model!r} is not in the pair"
    narrow, wide = pair.model(data.narrow_model), pair.other(data.narrow_model)
    for key, parts in data.narrow_parts.items():
        if not key.isdigit() or int(key) >= narrow.n_features:
            return f"feature {key[:20]!r} is not a feature of {narrow.name!r}"
        if any(p >= wide.n_features for p in parts):
            return f"a part of feature {key} is not a feature of {wide.name!r}"
    if any(not k.isdigit() or int(k) >= narrow.n_features for k in data.narrow_verdicts):
        return f"a verdict is keyed by something other than a feature of {narrow.name!r}"
    return None


def read_cache(path: Path, pair) -> tuple[dict | None, str]:
    """The cached data when it passes every check, else (None, why it failed)."""
    try:
        wrapper = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"unreadable ({str(exc)[:80]})"
    if not isinstance(wrapper, dict) or wrapper.get("kind") != CACHE_KIND:
        return None, "not an alignment cache"
    if wrapper.get("pair_fingerprint") != pair.fingerprint:
        return None, "computed for another pair"
    data = wrapper.get("data")
    if hashlib.sha256(_canonical(data)).hexdigest() != wrapper.get("data_sha256"):
        return None, "checksum mismatch"
    try:
        parsed = AlignmentData.model_validate(data)
    except ValidationError as exc:
        return None, f"malformed ({exc.errors()[0]['msg'][:80]})"
    problem = _consistency(parsed, pair)
    return (None, problem) if problem else (data, "")


def write_cache(path: Path, data: dict, pair_fp: str | None) -> None:
    """Write atomically (temporary file, then rename); OSError when the folder is read-only."""
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(dump_cache(data, pair_fp))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
