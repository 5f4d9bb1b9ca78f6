"""Generic top-examples tables (Parquet, CSV, JSONL) and the Arrow helpers other readers share.

A table has one row per (feature, example): `feature_id` (int), `activation` (float),
`tokens` (a list of token strings, or of token ids with a vocabulary; in CSV a JSON-encoded
list; `token_ids` is accepted as the column name for ids) and optionally `example_key`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crossmodel_matcher.errors import InputError
from crossmodel_matcher.store.vocab_reader import IdVocab, LocalTokens

TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "json", ".ndjson": "json"}


def read_table(
    path: str | Path, columns: list[str] | None = None, csv_strings: tuple[str, ...] = ()
) -> pa.Table:
    """A Parquet, CSV or JSON-lines file as an Arrow table; unreadable files name themselves."""
    path = Path(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: unknown table type {path.suffix!r}; use .parquet, .csv or .jsonl")
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            cols = None if columns is None else [c for c in columns if c in schema.names]
            return pq.read_table(path, columns=cols)
        if kind == "csv":
            import pyarrow.csv as pcsv

            # Only an empty cell is missing; "nan" must read as NaN so the check below names it.
            opts = pcsv.ConvertOptions(column_types={c: pa.string() for c in csv_strings}, null_values=[""])
            return pcsv.read_csv(path, convert_options=opts)
        import pyarrow.json as pjson

        return pjson.read_json(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable {kind} file ({exc}); re-export it") from None


def require(table: pa.Table, where: Path | str, name: str, alternatives: tuple[str, ...] = ()) -> str:
    """The first of `name`, *alternatives* present in the table; else an error listing the columns."""
    for col in (name, *alternatives):
        if col in table.column_names:
            return col
    have = ", ".join(table.column_names) or "none"
    raise InputError(f"{where}: missing column {name!r} (columns found: {have})")


def int_column(
    table: pa.Table, where: Path | str, name: str, lo: int = 0, hi: int | None = None
) -> np.ndarray:
    col = table.column(name)
    if not pa.types.is_integer(col.type):
        raise InputError(f"{where}: column {name!r} has type {col.type}; it must hold integers")
    if col.null_count:
        raise InputError(f"{where}: column {name!r} has {col.null_count} empty values; fill them")
    arr = col.to_numpy().astype(np.int64)
    if len(arr) and (arr.min() < lo or (hi is not None and arr.max() >= hi)):
        bad = int(arr.min()) if arr.min() < lo else int(arr.max())
        valid = f"[{lo}, {hi})" if hi is not None else f">= {lo}"
        raise InputError(f"{where}: column {name!r} holds {bad}, outside {valid}")
    return arr


def float_column(table: pa.Table, where: Path | str, name: str) -> np.ndarray:
    col = table.column(name)
    if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
        raise InputError(f"{where}: column {name!r} has type {col.type}; it must hold numbers")
    if col.null_count:
        raise InputError(f"{where}: column {name!r} has {col.null_count} empty values; fill them")
    arr = col.to_numpy().astype(np.float64)
    if not np.all(np.isfinite(arr)):
        row = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InputError(f"{where}: column {name!r} holds NaN or inf (row {row}); clean the table")
    return arr.astype(np.float32)


def token_lists(col: pa.ChunkedArray | pa.Array, where: str, vocab: IdVocab | None) -> LocalTokens:
    """A list<string> or list<int> column (or JSON-encoded lists in strings) as LocalTokens."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = _parse_json_lists(col, where)
    if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
        raise InputError(f"{where}: type {col.type}; it must hold a list of tokens per row")
    if col.null_count:
        raise InputError(f"{where}: {col.null_count} rows have no token list; give [] for none")
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(col)
    vtype = col.type.value_type
    if pa.types.is_null(vtype) or len(flat) == 0:
        return LocalTokens.from_strings(lengths, np.zeros(0, dtype=str), where)
    if flat.null_count:
        raise InputError(f"{where}: a token list holds null; remove it")
    if pa.types.is_string(vtype) or pa.types.is_large_string(vtype):
        return LocalTokens.from_strings(
            lengths, np.asarray(flat.to_numpy(zero_copy_only=False), dtype=str), where
        )
    if pa.types.is_integer(vtype):
        if vocab is None:
            raise InputError(
                f"{where}: tokens are ids; give the vocabulary they index (--vocab, or vocab= for this model)"
            )
        return LocalTokens.from_ids(lengths, flat.to_numpy(zero_copy_only=False), vocab, where)
    raise InputError(f"{where}: tokens of type {vtype}; use token strings or integer ids")


def _parse_json_lists(col: pa.ChunkedArray | pa.Array, where: str) -> pa.Array:
    values = col.to_pylist()
    out = []
    for i, text in enumerate(values):
        try:
            row = json.loads(text) if text is not None else None
        except json.JSONDecodeError:
            row = "bad"
        if not isinstance(row, list):
            raise InputError(f"{where}: row {i} is not a JSON list of tokens: {str(text)[:60]!r}")
        out.append(row)
    try:
        return pa.array(out)
    except (pa.ArrowException, TypeError):
        raise InputError(f"{where}: token lists mix strings and ids; use one kind") from None


@dataclass
class TopTable:
    """Top-examples rows read from a file, tokens over the file's own vocabulary."""

    feature_id: np.ndarray  # int32 [R]
    activation: np.ndarray  # float32 [R]
    tokens: LocalTokens
    origin: str


def read_top_table(path: str | Path, vocab: IdVocab | None, n_features: int | None = None) -> TopTable:
    """A generic top-examples table; activations must be finite and feature ids in range."""
    path = Path(path)
    table = read_table(
        path,
        ["feature_id", "activation", "tokens", "token_ids", "example_key"],
        csv_strings=("tokens", "token_ids", "example_key"),
    )
    fid = int_column(table, path, require(table, path, "feature_id"), 0, n_features)
    act = float_column(table, path, require(table, path, "activation"))
    tok_col = require(table, path, "tokens", ("token_ids",))
    tokens = token_lists(table.column(tok_col), f"{path}, column {tok_col!r}", vocab)
    if "example_key" in table.column_names:
        key = table.column("example_key")
        if not (pa.types.is_string(key.type) or pa.types.is_large_string(key.type)) or key.null_count:
            raise InputError(f"{path}: column 'example_key' must hold a string on every row")
    if not len(fid):
        raise InputError(f"{path}: the table has no rows")
    return TopTable(fid.astype(np.int32), act, tokens, str(path))
