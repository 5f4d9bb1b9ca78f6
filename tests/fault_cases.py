"""Tampered copies of a pair: each case damages one thing and names what the refusal must say.

Shared by the fault suite (tests/test_faults_tamper.py) and benchmarks/tamper_pairs.py.
Array and JSON edits are "re-signed" (the manifest's size and checksum updated to match),
as a buggy writer would leave them, so the value checks are exercised, not only the
checksums; the `flip` cases leave the checksum stale to exercise the hashing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmodel_matcher.matcher.alignment_cache import CACHE_NAME
from crossmodel_matcher.matcher.null import CACHE_NAME as NULL_CACHE
from crossmodel_matcher.matcher.pool_masses import CACHE_NAME as POOLS_CACHE
from crossmodel_matcher.matcher.shortlists import CACHE_NAME as SHORTLISTS_CACHE
from crossmodel_matcher.store.checksums import file_entry


@dataclass(frozen=True)
class Tamper:
    name: str
    apply: Callable[[Path], None]
    expect: tuple[str, ...]  # substrings of the one-line error; () = loads, cache rebuilt with a warning
    verify_only: bool = False  # only `info --verify` can see it (a large file's plausible bytes)


def replace_bytes(path: Path, data: bytes) -> None:
    """Write a new file and rename it over `path`: a hard-linked copy's original is untouched."""
    tmp = path.with_name(path.name + ".tamper")
    tmp.write_bytes(data)
    tmp.replace(path)


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _manifest(root: Path) -> dict:
    return json.loads((root / "pair.json").read_text())


def _save_manifest(root: Path, manifest: object) -> None:
    replace_bytes(root / "pair.json", json.dumps(manifest).encode())


def edit_manifest(fn: Callable[[dict], object], replace: bool = False) -> Callable[[Path], None]:
    """Edit pair.json in place (or, with `replace`, save what `fn` returns instead)."""

    def apply(root: Path) -> None:
        m = _manifest(root)
        out = fn(m)
        _save_manifest(root, out if replace else m)

    return apply


def resign(root: Path, rel: str) -> None:
    """Record the file's current size and checksum (and array header) in pair.json."""
    m = _manifest(root)
    entry = m["files"][rel]
    entry.update(file_entry(root / rel))
    if rel.endswith(".npy"):
        arr = np.load(root / rel, mmap_mode="r", allow_pickle=False)
        entry.update(shape=list(arr.shape), dtype=str(arr.dtype))
    _save_manifest(root, m)


def edit_array(rel: str, fn: Callable[[np.ndarray], np.ndarray | None], sign: bool = True) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        arr = np.load(root / rel, allow_pickle=False)
        out = fn(arr)
        replace_bytes(root / rel, _npy_bytes(arr if out is None else out))
        if sign:
            resign(root, rel)

    return apply


def edit_text(rel: str, text: str | Callable[[str], str], sign: bool = True) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        replace_bytes(path, (text(path.read_text()) if callable(text) else text).encode())
        if sign:
            resign(root, rel)

    return apply


def truncate(rel: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = (root / rel).read_bytes()
        replace_bytes(root / rel, data[: len(data) // 2])

    return apply


def delete(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).unlink()


def flip_byte(rel: str, itemsize: int) -> Callable[[Path], None]:
    """Flip the lowest bit of the last element: a plausible, finite, non-negative value."""

    def apply(root: Path) -> None:
        data = bytearray((root / rel).read_bytes())
        data[len(data) - itemsize] ^= 0x01
        replace_bytes(root / rel, bytes(data))

    return apply


def huge_header(rel: str, sign: bool) -> Callable[[Path], None]:
    """Rewrite a .npy header to claim [n, 2^31] while keeping the (small) data."""

    def apply(root: Path) -> None:
        path = root / rel
        arr = np.load(path, allow_pickle=False)
        shape = (arr.shape[0], 2**31)
        import io

        buf = io.BytesIO()
        header = {"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(buf, header)
        replace_bytes(path, buf.getvalue() + arr.tobytes())
        if sign:
            m = _manifest(root)
            m["files"][rel].update(file_entry(path), shape=list(shape))
            _save_manifest(root, m)

    return apply


def set_cache(fn: Callable[[dict], None], keep_checksum: bool) -> Callable[[Path], None]:
    """Edit the alignment cache's data; with keep_checksum its data_sha256 is recomputed."""

    def apply(root: Path) -> None:
        import hashlib

        path = root / CACHE_NAME
        wrapper = json.loads(path.read_text())
        fn(wrapper["data"])
        if keep_checksum:
            canon = json.dumps(wrapper["data"], sort_keys=True, separators=(",", ":")).encode()
            wrapper["data_sha256"] = hashlib.sha256(canon).hexdigest()
        replace_bytes(path, json.dumps(wrapper).encode())

    return apply


def _toggle_first(flags: list[int]) -> None:
    flags[0] = 1 - flags[0]


def _first_model(m: dict) -> dict:
    return m["models"][0]


def _set_cell(arr: np.ndarray, value, row: int = 0) -> None:
    arr.reshape(arr.shape[0], -1)[row, 0] = value


def cases(narrow: str, wide: str) -> list[Tamper]:
    """Every tamper case for a pair whose models are `narrow` and `wide` (both with activations)."""
    n, w = f"models/{narrow}", f"models/{wide}"
    return [
        # ---- pair.json
        Tamper("manifest: n_features is 'abc'", edit_manifest(lambda m: _first_model(m).update(n_features="abc")),
               ("pair.json", "models[0].n_features")),
        Tamper("manifest: model entry without name", edit_manifest(lambda m: _first_model(m).pop("name")),
               ("pair.json", "models[0].name", "missing")),
        Tamper("manifest: 'files' removed", edit_manifest(lambda m: m.pop("files")), ("pair.json", "'files'")),
        Tamper("manifest: a list, not an object", edit_manifest(lambda m: [m], replace=True), ("pair.json", "JSON object")),
        Tamper("manifest: truncated JSON", truncate("pair.json"), ("pair.json", "not valid JSON")),
        Tamper("manifest: deleted", delete("pair.json"), ("pair.json", "no pair manifest")),
        Tamper("manifest: format_version 99", edit_manifest(lambda m: m.update(format_version=99)),
               ("pair.json", "format_version")),
        Tamper("manifest: n_features 10^12", edit_manifest(lambda m: _first_model(m).update(n_features=10**12)),
               ("pair.json", "top_token_ids.npy", "shape")),
        Tamper("manifest: n_features true (a bool)", edit_manifest(lambda m: _first_model(m).update(n_features=True)),
               ("pair.json", "models[0].n_features")),
        Tamper("manifest: negative n_aligned_examples", edit_manifest(lambda m: m.update(n_aligned_examples=-3)),
               ("pair.json", "n_aligned_examples")),
        Tamper("manifest: vocab_size off by one", edit_manifest(lambda m: m.update(vocab_size=m["vocab_size"] + 1)),
               ("token_weights.npy", "shape")),
        Tamper("manifest: a file path escaping the pair",
               edit_manifest(lambda m: m["files"].update({"../outside.npy": m["files"]["vocab.json"]})),
               ("pair.json", "inside the pair")),
        Tamper("manifest: shape claims 2^31 columns",
               edit_manifest(lambda m: m["files"][f"{n}/token_weights.npy"].update(shape=[1, 2**31])),
               ("token_weights.npy", "shape")),
        Tamper("manifest: signals claim a decoder", edit_manifest(lambda m: _first_model(m)["signals"].append("decoder")),
               ("pair.json", "signals")),
        Tamper("manifest: required array unlisted", edit_manifest(lambda m: m["files"].pop(f"{w}/fire_count.npy")),
               ("pair.json", "fire_count.npy")),
        # ---- vocab and labels
        Tamper("vocab.json: truncated", truncate("vocab.json"), ("vocab.json",)),
        Tamper("vocab.json: numbers, not tokens", edit_text("vocab.json", lambda t: json.dumps(list(range(len(json.loads(t)))))),
               ("vocab.json", "token strings")),
        Tamper("labels.json: malformed JSON", edit_text(f"{n}/labels.json", "{\"0\": "), ("labels.json", "not valid JSON")),
        Tamper("labels.json: a list", edit_text(f"{n}/labels.json", "[\"a\"]"), ("labels.json", "JSON object")),
        Tamper("labels.json: id out of range", edit_text(f"{n}/labels.json", "{\"999999\": \"x\"}"), ("labels.json", "999999")),
        Tamper("labels.json: label a number", edit_text(f"{n}/labels.json", "{\"0\": 5}"), ("labels.json", "strings")),
        # ---- arrays (re-signed: the value checks must catch them)
        Tamper("top_token_ids: negative token id", edit_array(f"{n}/top_token_ids.npy", lambda a: _set_cell(a, -7)),
               ("top_token_ids.npy", "-7")),
        Tamper("top_token_ids: id beyond the vocabulary", edit_array(f"{w}/top_token_ids.npy", lambda a: _set_cell(a, 10**6)),
               ("top_token_ids.npy", "1000000")),
        Tamper("top_token_ids: float32 dtype, same size", edit_array(f"{n}/top_token_ids.npy", lambda a: a.astype(np.float32)),
               ("pair.json", "top_token_ids.npy", "dtype float32")),
        Tamper("top_token_counts: negative count", edit_array(f"{n}/top_token_counts.npy", lambda a: _set_cell(a, -1)),
               ("top_token_counts.npy", "-1")),
        Tamper("token_weights: NaN", edit_array(f"{w}/token_weights.npy", lambda a: _set_cell(a, np.nan)),
               ("token_weights.npy", "NaN")),
        Tamper("fire_count: negative", edit_array(f"{n}/fire_count.npy", lambda a: _set_cell(a, -5)), ("fire_count.npy", "-5")),
        Tamper("mean_activation: NaN", edit_array(f"{n}/mean_activation.npy", lambda a: _set_cell(a, np.nan)),
               ("mean_activation.npy", "NaN")),
        Tamper("max_activation: inf", edit_array(f"{w}/max_activation.npy", lambda a: _set_cell(a, np.inf)),
               ("max_activation.npy", "NaN or infinite")),
        Tamper("act_indices: negative example index", edit_array(f"{n}/act_indices.npy", lambda a: _set_cell(a, -1)),
               ("act_indices.npy", "-1")),
        Tamper("act_indices: index past the aligned examples",
               edit_array(f"{w}/act_indices.npy", lambda a: _set_cell(a, 10**8)), ("act_indices.npy", "100000000")),
        Tamper("act_indptr: decreasing", edit_array(f"{n}/act_indptr.npy", lambda a: _set_cell(a, a[-1] + 1, 1)),
               ("act_indptr.npy",)),
        Tamper("act_data: negative activation", edit_array(f"{w}/act_data.npy", lambda a: _set_cell(a, -0.5)),
               ("act_data.npy", "-0.5")),
        Tamper("cross/sum_prod: NaN row", edit_array("cross/sum_prod.npy", lambda a: a.__setitem__(0, np.nan)),
               ("sum_prod.npy", "NaN")),
        Tamper("cross/cofire: negative count", edit_array("cross/cofire.npy", lambda a: _set_cell(a, -2)),
               ("cofire.npy", "-2")),
        Tamper("npy header: 2^31 columns (re-signed)", huge_header(f"{n}/mean_activation.npy", True),
               ("pair.json", "mean_activation.npy", "2147483648")),
        Tamper("npy header: 2^31 columns", huge_header(f"{w}/token_weights.npy", False), ("token_weights.npy",)),
        # ---- damage the checksums catch
        Tamper("act_data.npy: truncated", truncate(f"{n}/act_data.npy"), ("act_data.npy", "bytes")),
        Tamper("token_weights.npy: deleted", delete(f"{w}/token_weights.npy"), ("token_weights.npy", "missing")),
        Tamper("fire_count.npy: one byte flipped", flip_byte(f"{w}/fire_count.npy", 8), ("fire_count.npy", "checksum")),
        Tamper("vocab.json: edited, not re-signed", edit_text("vocab.json", lambda t: t.replace('"', "'", 2), sign=False),
               ("vocab.json",)),
        Tamper("cross/cofire.npy: one byte flipped", flip_byte("cross/cofire.npy", 4), ("cofire.npy", "checksum"),
               verify_only=True),
        # ---- the derived cache: rebuilt with a warning
        Tamper("alignment cache: truncated", truncate(CACHE_NAME), ()),
        Tamper("alignment cache: non-numeric part list",
               set_cache(lambda d: d["narrow_parts"].update({"0": ["x", "y"]}), keep_checksum=True), ()),
        Tamper("alignment cache: flags edited", set_cache(lambda d: _toggle_first(d["has_counterpart"][wide]), False), ()),
        Tamper("null cache: truncated", truncate(NULL_CACHE), ()),
        Tamper("shortlists cache: one byte flipped", flip_byte(SHORTLISTS_CACHE, 64), ()),
        Tamper("relation pools cache: truncated", truncate(POOLS_CACHE), ()),
        Tamper("relation pools cache: one byte flipped", flip_byte(POOLS_CACHE, 64), ()),
        Tamper("alignment cache: wrong lengths",
               set_cache(lambda d: d["dead"][narrow].append(0), keep_checksum=True), ()),
    ]


def _drop_last(arr: np.ndarray) -> np.ndarray:
    return arr[:-1]


def sampled_cases(narrow: str, wide: str) -> list[Tamper]:
    """Tamper cases for a streamed pair whose act_* hold a sample of the aligned examples.

    Such a pair also stores each model's moments over all aligned examples
    (`array_checks.MOMENT_ARRAYS`); both they and the sample must be refused when damaged.
    """
    n, w = f"models/{narrow}", f"models/{wide}"
    return [
        # ---- the aligned moments (re-signed: the value and shape checks must catch them)
        Tamper("sampled aligned_count: NaN", edit_array(f"{n}/aligned_count.npy", lambda a: _set_cell(a, np.nan)),
               ("aligned_count.npy", "NaN")),
        Tamper("sampled aligned_count: negative", edit_array(f"{w}/aligned_count.npy", lambda a: _set_cell(a, -1.0)),
               ("aligned_count.npy", "-1.0")),
        Tamper("sampled aligned_count: above aligned",
               edit_array(f"{w}/aligned_count.npy", lambda a: _set_cell(a, 1e9)), ("aligned_count.npy", "1000000000.0")),
        Tamper("sampled aligned_sum: NaN", edit_array(f"{w}/aligned_sum.npy", lambda a: _set_cell(a, np.nan)),
               ("aligned_sum.npy", "NaN")),
        Tamper("sampled aligned_sum: inf", edit_array(f"{n}/aligned_sum.npy", lambda a: _set_cell(a, np.inf)),
               ("aligned_sum.npy", "NaN or infinite")),
        Tamper("sampled aligned_sumsq: negative", edit_array(f"{n}/aligned_sumsq.npy", lambda a: _set_cell(a, -2.0)),
               ("aligned_sumsq.npy", "-2.0")),
        Tamper("sampled aligned_sum: one feature short", edit_array(f"{w}/aligned_sum.npy", _drop_last),
               ("aligned_sum.npy", "shape")),
        Tamper("sampled aligned_sumsq: 2-D", edit_array(f"{n}/aligned_sumsq.npy", lambda a: a.reshape(-1, 1)),
               ("aligned_sumsq.npy", "shape")),
        Tamper("sampled aligned_count: float32 dtype",
               edit_array(f"{n}/aligned_count.npy", lambda a: a.astype(np.float32)), ("aligned_count.npy", "float32")),
        Tamper("sampled aligned_sumsq.npy: deleted", delete(f"{w}/aligned_sumsq.npy"), ("aligned_sumsq.npy", "missing")),
        Tamper("sampled aligned_count.npy: truncated", truncate(f"{n}/aligned_count.npy"), ("aligned_count.npy", "bytes")),
        Tamper("sampled moments unlisted", edit_manifest(lambda m: m["files"].pop(f"{w}/aligned_sum.npy")),
               ("pair.json", "aligned_sum.npy")),
        # ---- the sampled activations
        Tamper("sample act_data: NaN", edit_array(f"{w}/act_data.npy", lambda a: _set_cell(a, np.nan)),
               ("act_data.npy", "NaN")),
        Tamper("sample act_indices: past the sample",
               edit_array(f"{n}/act_indices.npy", lambda a: _set_cell(a, a.max() + 1000)), ("act_indices.npy", "outside")),
        Tamper("sample act_indptr: one entry short", edit_array(f"{w}/act_indptr.npy", _drop_last),
               ("act_indptr.npy", "shape")),
        Tamper("sample act_data.npy: truncated", truncate(f"{n}/act_data.npy"), ("act_data.npy", "bytes")),
        Tamper("sample: n_sample above n_aligned",
               edit_manifest(lambda m: m.update(n_sample_examples=m["n_aligned_examples"] + 1)),
               ("pair.json", "n_sample_examples")),
    ]
