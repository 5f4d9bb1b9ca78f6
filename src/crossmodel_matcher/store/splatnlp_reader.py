"""SplatNLP's stores: the top-example store and the efficient (all-examples) zarr store.

An example is a build: ability token ids (SplatNLP's `vocab.json`) plus one weapon token id
(its `weapon_vocab.json`, a separate id space). Both join one token row here, weapon last,
so weapon tokens become ordinary tokens of the pair's shared vocabulary.

- Top-example store: `all_examples.parquet` (feature_id, activation, `ability_tokens_json`,
  weapon_id, ...) and, checked when present, `feature_index.parquet` (start_idx, end_idx).
- Efficient store: `activations/batch_{i:04d}.zarr` (dense float32 [samples, F], zarr v3) with
  `metadata/batch_{i:04d}.parquet` (`ability_tokens` list[int], `weapon_id_token`, ...),
  read batch by batch in blocks of rows, never whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from crossmodel_matcher.errors import InputError
from crossmodel_matcher.store.sources import block_rows, check_dense_block, sparsify_block
from crossmodel_matcher.store.tables_reader import TopTable, float_column, int_column, read_table, require
from crossmodel_matcher.store.vocab_reader import IdVocab, LocalTokens

_JSON_ID_LIST = r"^\s*\[\s*(\d+\s*(,\s*\d+\s*)*)?\]\s*$"


def build_tokens(
    lengths: np.ndarray,
    ability_ids: np.ndarray,
    weapon_ids: np.ndarray,
    vocab: IdVocab,
    weapons: IdVocab,
    where: str,
) -> LocalTokens:
    """Ability ids plus the weapon id of each row, as one row of tokens (weapon last)."""
    if len(ability_ids) and (ability_ids.min() < 0 or ability_ids.max() >= len(vocab)):
        bad = int(ability_ids.max() if ability_ids.max() >= len(vocab) else ability_ids.min())
        raise InputError(
            f"{where}: ability token id {bad} is outside {vocab.origin} (ids 0..{len(vocab) - 1}); "
            "give the vocab.json these stores were made with"
        )
    if len(weapon_ids) and (weapon_ids.min() < 0 or weapon_ids.max() >= len(weapons)):
        bad = int(weapon_ids.max() if weapon_ids.max() >= len(weapons) else weapon_ids.min())
        raise InputError(
            f"{where}: weapon id {bad} is outside {weapons.origin} (ids 0..{len(weapons) - 1}); "
            "give the weapon_vocab.json these stores were made with"
        )
    n = len(lengths)
    shift = np.repeat(np.arange(n, dtype=np.int64), lengths)
    out = np.empty(len(ability_ids) + n, dtype=np.int64)
    ends = np.cumsum(lengths + 1) - 1
    out[np.arange(len(ability_ids)) + shift] = ability_ids
    out[ends] = weapon_ids + len(vocab)
    both = IdVocab(list(vocab.tokens) + list(weapons.tokens), f"{vocab.origin} + {weapons.origin}")
    return LocalTokens.from_ids(lengths + 1, out, both, where)


def _json_id_lists(col: pa.ChunkedArray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """JSON-encoded lists of token ids ("[12, 40]") as row lengths and the ids, concatenated."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) or col.null_count:
        raise InputError(f"{where}: must hold a JSON list of token ids (a string) on every row")
    ok = pc.match_substring_regex(col, _JSON_ID_LIST).to_numpy(zero_copy_only=False)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise InputError(f"{where}: row {row} is not a JSON list of token ids: {str(col[row])[:60]!r}")
    lengths = pc.count_substring_regex(col, r"\d+").to_numpy(zero_copy_only=False).astype(np.int64)
    inner = pc.replace_substring_regex(col, r"[\[\]\s]", "").to_pylist()
    text = ",".join(s for s in inner if s)
    ids = np.array(text.split(","), dtype=np.int64) if text else np.zeros(0, dtype=np.int64)
    return lengths, ids


def read_top_store(folder: str | Path, vocab: IdVocab, weapons: IdVocab, n_features: int | None) -> TopTable:
    """SplatNLP's top-example store as a top-examples table."""
    folder = Path(folder)
    path = folder / "all_examples.parquet"
    if not path.is_file():
        raise InputError(f"{folder}: no all_examples.parquet here; point at the top-example store folder")
    cols = ["feature_id", "activation", "ability_tokens_json", "weapon_id"]
    table = read_table(path, cols)
    for c in cols:
        require(table, path, c)
    fid = int_column(table, path, "feature_id", 0, n_features)
    act = float_column(table, path, "activation")
    weapon = int_column(table, path, "weapon_id")
    lengths, ids = _json_id_lists(
        table.column("ability_tokens_json"), f"{path}, column 'ability_tokens_json'"
    )
    tokens = build_tokens(lengths, ids, weapon, vocab, weapons, f"{path}, column 'ability_tokens_json'")
    index = folder / "feature_index.parquet"
    if index.is_file():
        _check_feature_index(index, fid)
    if not len(fid):
        raise InputError(f"{path}: the store has no rows")
    return TopTable(fid.astype(np.int32), act, tokens, str(path))


def _check_feature_index(path: Path, fid: np.ndarray) -> None:
    table = read_table(path, ["feature_id", "start_idx", "end_idx"])
    f = int_column(table, path, require(table, path, "feature_id"))
    lo = int_column(table, path, require(table, path, "start_idx"), 0, len(fid) + 1)
    hi = int_column(table, path, require(table, path, "end_idx"), 0, len(fid) + 1)
    rows_of = np.repeat(f, hi - lo) if np.all(hi >= lo) else None
    if rows_of is None or len(rows_of) != len(fid) or not np.array_equal(rows_of, fid[_ranges(lo, hi)]):
        raise InputError(
            f"{path}: start_idx/end_idx do not match the rows of all_examples.parquet; the two files "
            "come from different runs (copy both from one store)"
        )


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    lengths = hi - lo
    return np.repeat(lo - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())


@dataclass
class _Batch:
    path: Path
    array: object  # zarr.Array
    n_rows: int


class ZarrBatchStream:
    """The efficient store's activation batches, read in blocks of rows, batch after batch."""

    def __init__(self, batches: list[_Batch], n_features: int, origin: str):
        self.batches, self.n_features, self.origin = batches, n_features, origin
        self.n_examples = sum(b.n_rows for b in batches)

    def blocks(self) -> Iterator[tuple[int, sp.csr_matrix]]:
        for row0, block, where in self._read(0, None):
            yield row0, sparsify_block(block, where)

    def dense_blocks(self, start: int = 0, block_bytes: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Checked dense float32 blocks from row `start` on (what a streamed build reads)."""
        for row0, block, where in self._read(start, block_bytes):
            check_dense_block(block, where)
            yield row0, block

    def _read(self, start: int, block_bytes: int | None) -> Iterator[tuple[int, np.ndarray, str]]:
        row0 = 0
        for b in self.batches:
            if row0 + b.n_rows <= start:
                row0 += b.n_rows
                continue
            chunk = int(b.array.chunks[0])
            step = block_rows(self.n_features, chunk, block_bytes)
            first = max(0, start - row0) // chunk * chunk
            for lo in range(first, b.n_rows, step):
                hi = min(b.n_rows, lo + step)
                try:
                    block = np.asarray(b.array[lo:hi], dtype=np.float32)
                except Exception as exc:  # zarr and its codecs raise many kinds on corrupt chunks
                    raise InputError(
                        f"{b.path}: rows {lo}..{hi - 1} (chunks {lo // chunk}..{(hi - 1) // chunk} along "
                        f"the rows) unreadable ({exc}); the batch is corrupt, re-export it"
                    ) from None
                yield row0 + lo, block, f"{b.path}, rows {lo}..{hi - 1}"
            row0 += b.n_rows


def _check_chunks(path: Path, arr) -> None:
    """InputError naming the first missing chunk: zarr would read it silently as zeros."""
    from zarr.core.sync import sync

    if arr.nchunks_initialized >= arr.nchunks:
        return
    grid = [range((s + c - 1) // c) for s, c in zip(arr.shape, arr.chunks)]
    prefix = f"{arr.path}/" if getattr(arr, "path", "") else ""
    for i in grid[0]:
        for j in grid[1]:
            key = prefix + arr.metadata.encode_chunk_key((i, j))
            if not sync(arr.store.exists(key)):
                lo = i * arr.chunks[0]
                raise InputError(
                    f"{path}: chunk {key!r} (rows {lo}..{min(arr.shape[0], lo + arr.chunks[0]) - 1}) is "
                    "missing, and would read as zeros; the batch is incomplete, copy or re-export it"
                )


def _open_zarr(path: Path):
    import zarr

    try:
        node = zarr.open(store=str(path), mode="r")
    except Exception as exc:  # zarr raises several kinds for a missing or damaged store
        raise InputError(f"{path}: not a readable zarr array ({exc}); re-export the batch") from None
    if isinstance(node, zarr.Group):
        arrays = list(node.array_values())
        if len(arrays) != 1:
            raise InputError(f"{path}: a zarr group with {len(arrays)} arrays; expected one activation array")
        node = arrays[0]
    return node


def read_efficient_store(
    folder: str | Path, vocab: IdVocab, weapons: IdVocab
) -> tuple[ZarrBatchStream, LocalTokens]:
    """The efficient store's activations (a stream) and the tokens of every row, in row order."""
    folder = Path(folder)
    meta_dir = folder / "metadata"
    found = _batch_paths(folder)
    batches, lengths, ability, weapon = [], [], [], []
    n_features = None
    for i, zpath in enumerate(found):
        arr = _open_zarr(zpath)
        if len(arr.shape) != 2 or np.dtype(arr.dtype).kind != "f":
            raise InputError(
                f"{zpath}: shape {arr.shape} dtype {arr.dtype}; expected float32 [samples, features]"
            )
        _check_chunks(zpath, arr)
        if n_features is None:
            n_features = int(arr.shape[1])
        elif arr.shape[1] != n_features:
            raise InputError(
                f"{zpath}: {arr.shape[1]} features, batch 0 has {n_features}; batches must agree"
            )
        n_tok, ids, weapon_ids = _batch_tokens(meta_dir / f"batch_{i:04d}.parquet", zpath, int(arr.shape[0]))
        lengths.append(n_tok)
        ability.append(ids)
        weapon.append(weapon_ids)
        batches.append(_Batch(zpath, arr, int(arr.shape[0])))
    tokens = build_tokens(
        np.concatenate(lengths),
        np.concatenate(ability),
        np.concatenate(weapon),
        vocab,
        weapons,
        f"{meta_dir}, columns 'ability_tokens'/'weapon_id_token'",
    )
    return ZarrBatchStream(batches, n_features, str(folder)), tokens


def _batch_paths(folder: Path) -> list[Path]:
    """activations/batch_NNNN.zarr, numbered 0..n-1 and as many as conversion_metadata says."""
    acts_dir = folder / "activations"
    found = sorted(acts_dir.glob("batch_*.zarr")) if acts_dir.is_dir() else []
    if not found:
        raise InputError(f"{folder}: no activations/batch_*.zarr here; point at the efficient store folder")
    numbers = []
    for p in found:
        m = re.fullmatch(r"batch_(\d+)\.zarr", p.name)
        if m is None:
            raise InputError(f"{p}: unexpected name; batches are named batch_0000.zarr, batch_0001.zarr, ...")
        numbers.append(int(m.group(1)))
    if numbers != list(range(len(numbers))):
        raise InputError(
            f"{acts_dir}: batch numbers {numbers[:8]} are not 0..{len(numbers) - 1}; a batch is missing"
        )
    conv = folder / "conversion_metadata.json"
    if conv.is_file():
        try:
            declared = json.loads(conv.read_text()).get("n_batches")
        except (OSError, json.JSONDecodeError, AttributeError) as exc:
            raise InputError(f"{conv}: not readable JSON ({exc})") from None
        if declared is not None and declared != len(found):
            raise InputError(f"{conv}: field 'n_batches' is {declared} but {len(found)} batches are present")
    return found


def _batch_tokens(mpath: Path, zpath: Path, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One metadata batch: ability-token counts per row, the ids concatenated, weapon ids."""
    if not mpath.is_file():
        raise InputError(f"{mpath}: missing; every activations batch needs its metadata batch")
    meta = read_table(mpath, ["ability_tokens", "weapon_id_token"])
    col = meta.column(require(meta, mpath, "ability_tokens"))
    require(meta, mpath, "weapon_id_token")
    if meta.num_rows != n_rows:
        raise InputError(
            f"{mpath}: {meta.num_rows} rows but {zpath.name} has {n_rows} samples; "
            "rows must correspond one to one"
        )
    if (
        not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type))
        or col.null_count
        or not (pa.types.is_integer(col.type.value_type) or pa.types.is_null(col.type.value_type))
    ):
        raise InputError(f"{mpath}: column 'ability_tokens' must hold a list of token ids on every row")
    return (
        pc.list_value_length(col).to_numpy(zero_copy_only=False).astype(np.int64),
        pc.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.int64),
        int_column(meta, mpath, "weapon_id_token"),
    )
