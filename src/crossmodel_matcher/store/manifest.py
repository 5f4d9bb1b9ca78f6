"""`pair.json`, parsed into a typed model: every field checked before anything is read.

A manifest that is not an object, lacks a field, or holds a value of the wrong type is
refused with one line naming `pair.json`, the field (`models[0].n_features`) and what it
must be; nothing further is opened. Unknown top-level fields (a build's provenance, the
demo's seed) are kept as they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crossmodel_matcher.errors import PairFormatError

FORMAT_NAME = "crossmodel-matcher-pair"
FORMAT_VERSION = 2
"""Version 2 added a size and a SHA-256 checksum to every file entry."""
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DTYPES = ("int32", "int64", "float32", "float64")

Count = Annotated[int, Field(strict=True, ge=0)]
Digest = Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{64}$")]


class FileEntry(BaseModel):
    """One file of the pair: its size and checksum, and for an array its shape and dtype."""

    model_config = ConfigDict(extra="forbid", strict=True)
    bytes: Count
    sha256: Digest
    shape: list[Count] | None = None
    dtype: Literal[DTYPES] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _array_has_both(self) -> FileEntry:
        if (self.shape is None) != (self.dtype is None):
            raise ValueError("an array entry needs both 'shape' and 'dtype'")
        return self


class ModelEntry(BaseModel):
    """One SAE of the pair."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
    n_features: Annotated[int, Field(strict=True, ge=1)]
    n_examples: Count
    activation_space: str | None = None
    signals: list[Literal["tokens", "activations", "decoder"]]


class Manifest(BaseModel):
    """The whole manifest; extra top-level fields are kept (build provenance, demo seed)."""

    model_config = ConfigDict(extra="allow", strict=True)
    format: Literal[FORMAT_NAME]  # type: ignore[valid-type]
    format_version: int
    description: str = ""
    vocab_size: Annotated[int, Field(strict=True, ge=1)]
    n_aligned_examples: Count
    n_sample_examples: Count | None = None  # act_* hold this hash-of-key sample of the aligned examples
    models: Annotated[list[ModelEntry], Field(min_length=2, max_length=2)]
    files: dict[str, FileEntry]

    @field_validator("format_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != FORMAT_VERSION:
            raise ValueError(
                f"is {v!r}, this release reads {FORMAT_VERSION}; rebuild the pair with this release"
            )
        return v

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for rel in files:
            p = PurePosixPath(rel)
            if p.is_absolute() or ".." in p.parts or not rel or "\\" in rel:
                raise ValueError(f"path {rel[:80]!r} must be relative and inside the pair")
        return files

    @model_validator(mode="after")
    def _distinct_names(self) -> Manifest:
        a, b = self.models
        if a.name == b.name:
            raise ValueError(f"models: the two models need different names (both {a.name!r})")
        return self

    @model_validator(mode="after")
    def _sample_within_aligned(self) -> Manifest:
        if self.n_sample_examples is not None and self.n_sample_examples > self.n_aligned_examples:
            raise ValueError(
                f"n_sample_examples ({self.n_sample_examples}) exceeds n_aligned_examples "
                f"({self.n_aligned_examples}): a sample is drawn from the aligned examples"
            )
        return self


def describe_error(exc: ValidationError) -> str:
    """The first validation error as `field 'a.b[0].c' <what is wrong> (got ...)`."""
    err = exc.errors()[0]
    loc = ""
    for part in err["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    msg = re.sub(r"^Value error, ", "", err["msg"])
    got = repr(err.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    where = f"field {loc!r}" if loc else "the manifest"
    if err["type"] == "missing":
        return f"{where} is missing"
    if err["type"] == "value_error":  # our own validators: the message says it all
        return f"{where}: {msg}"
    return f"{where}: {msg} (got {got})"


def parse_manifest(pair_dir: str | Path) -> Manifest:
    """Read and validate `pair.json`; PairFormatError naming the field on any problem."""
    path = Path(pair_dir) / "pair.json"
    if not path.is_file():
        raise PairFormatError(
            f"{path}: no pair manifest here; point at a folder written by "
            "`crossmodel-matcher build` (or run `crossmodel-matcher demo` for the demo pair)"
        )
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PairFormatError(f"{path}: not valid JSON ({exc}); rebuild the pair") from None
    if not isinstance(raw, dict):
        raise PairFormatError(f"{path}: must hold a JSON object, not a {type(raw).__name__}; rebuild the pair")
    if raw.get("format") != FORMAT_NAME:
        raise PairFormatError(f"{path}: field 'format' must be {FORMAT_NAME!r}")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        text = describe_error(exc)
        raise PairFormatError(f"{path}: {text}" + ("" if "rebuild" in text else "; rebuild the pair")) from None
