"""Corrupt and adversarial build inputs: a clear error naming the file and field, nothing written."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossmodel_matcher.cli import main as cli_main
from crossmodel_matcher.errors import InputError
from crossmodel_matcher.pair_source import build_pair_from_inputs
from crossmodel_matcher.store.inputs_reader import ModelInputs
from tests.test_build_fixtures import (
    N_FULL,
    decoder_for,
    make_world,
    write_labels,
    write_npz,
    write_splatnlp_efficient,
    write_splatnlp_top,
    write_tokens_jsonl,
    write_top_table,
    write_torch_checkpoint,
    write_vocabs,
)

FULL, ULTRA = make_world()


@pytest.fixture
def spill_root(tmp_path, monkeypatch):
    """Temporary files (the build's spill folder) go under tmp_path, so leftovers are seen."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def refused(tmp: Path, models: list[ModelInputs], *must_mention: str, **kw) -> str:
    """Build, expect InputError mentioning each of `must_mention`; check nothing was left."""
    out = tmp / "out" / "pair"
    with pytest.raises(InputError) as info:
        build_pair_from_inputs(out, models, progress=False, **kw)
    msg = str(info.value)
    for text in must_mention:
        assert text in msg, f"{text!r} not in error: {msg}"
    assert not out.exists()
    leftovers = [p.name for p in tmp.rglob(".*") if ".tmp-" in p.name or "spill" in p.name]
    assert leftovers == []
    return msg


def good_full(tmp: Path) -> ModelInputs:
    return ModelInputs(
        "full", acts=write_npz(tmp / "full.npz", FULL), tokens=write_tokens_jsonl(tmp / "full.jsonl", FULL)
    )


def ultra_acts(tmp: Path, acts: Path) -> ModelInputs:
    return ModelInputs("ultra", acts=acts, tokens=write_tokens_jsonl(tmp / "ultra.jsonl", ULTRA))


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# ---- truncated files ------------------------------------------------------------------------
def test_truncated_parquet_table(tmp_path, spill_root):
    top = truncate(write_top_table(tmp_path / "ultra.parquet", ULTRA, "parquet"))
    refused(tmp_path, [good_full(tmp_path), ModelInputs("ultra", top=top)], "ultra.parquet", "parquet")


def test_truncated_npz_and_npy(tmp_path, spill_root):
    npz = truncate(write_npz(tmp_path / "ultra.npz", ULTRA))
    refused(tmp_path, [good_full(tmp_path), ultra_acts(tmp_path, npz)], "ultra.npz", "not a readable .npz")
    np.save(tmp_path / "ultra.npy", ULTRA.dense)
    npy = truncate(tmp_path / "ultra.npy", 0.9)
    refused(tmp_path, [good_full(tmp_path), ultra_acts(tmp_path, npy)], "ultra.npy", "truncated")


def test_truncated_checkpoint(tmp_path, spill_root):
    pth = truncate(write_torch_checkpoint(tmp_path / "full.pth", decoder_for(FULL)))
    top = write_top_table(tmp_path / "u.parquet", ULTRA, "parquet")
    refused(
        tmp_path,
        [
            ModelInputs("full", top=write_top_table(tmp_path / "f.parquet", FULL, "parquet"), decoder=pth),
            ModelInputs("ultra", top=top),
        ],
        "full.pth",
        "truncated",
    )


def test_corrupt_zarr_chunk_is_named(tmp_path, spill_root):
    v, wv = write_vocabs(tmp_path / "vocab")
    store = write_splatnlp_efficient(tmp_path / "ue", ULTRA, n_batches=2, chunk_rows=32)
    chunk = next(
        p
        for p in sorted((store / "activations" / "batch_0001.zarr").rglob("*"))
        if p.is_file() and p.name != "zarr.json"
    )
    chunk.write_bytes(b"\x28\xb5\x2f\xfd garbage, not zstd")
    refused(
        tmp_path,
        [good_full(tmp_path), ModelInputs("ultra", splatnlp_acts=store)],
        "batch_0001.zarr",
        "corrupt",
        vocab=v,
        weapon_vocab=wv,
    )


# ---- wrong shapes and dtypes ----------------------------------------------------------------
def test_npz_with_inconsistent_indptr(tmp_path, spill_root):
    csr = ULTRA.csr
    np.savez(
        tmp_path / "bad.npz",
        indptr=csr.indptr[:-5],
        indices=csr.indices,
        data=csr.data,
        shape=np.array(csr.shape),
    )
    refused(
        tmp_path, [good_full(tmp_path), ultra_acts(tmp_path, tmp_path / "bad.npz")], "bad.npz", "'indptr'"
    )


def test_npz_missing_field_and_integer_data(tmp_path, spill_root):
    csr = ULTRA.csr
    np.savez(tmp_path / "nodata.npz", indptr=csr.indptr, indices=csr.indices, shape=np.array(csr.shape))
    refused(
        tmp_path, [good_full(tmp_path), ultra_acts(tmp_path, tmp_path / "nodata.npz")], "nodata.npz", "'data'"
    )
    np.savez(
        tmp_path / "ints.npz",
        indptr=csr.indptr,
        indices=csr.indices,
        data=csr.data.astype(np.int32),
        shape=np.array(csr.shape),
    )
    refused(
        tmp_path,
        [good_full(tmp_path), ultra_acts(tmp_path, tmp_path / "ints.npz")],
        "ints.npz",
        "floating point",
    )


def test_tokens_rows_do_not_match_activation_rows(tmp_path, spill_root):
    tokens = tmp_path / "short.jsonl"
    tokens.write_text("".join(json.dumps({"tokens": t}) + "\n" for t in ULTRA.token_strings()[:-3]))
    models = [
        good_full(tmp_path),
        ModelInputs("ultra", acts=write_npz(tmp_path / "u.npz", ULTRA), tokens=tokens),
    ]
    refused(tmp_path, models, "short.jsonl", "u.npz", "same order")


def test_dense_npy_must_be_2d_float(tmp_path, spill_root):
    np.save(tmp_path / "flat.npy", ULTRA.dense.ravel())
    refused(tmp_path, [good_full(tmp_path), ultra_acts(tmp_path, tmp_path / "flat.npy")], "flat.npy", "2-D")
    np.save(tmp_path / "ints.npy", ULTRA.dense.astype(np.int64))
    refused(
        tmp_path,
        [good_full(tmp_path), ultra_acts(tmp_path, tmp_path / "ints.npy")],
        "ints.npy",
        "floating point",
    )


def test_efficient_store_metadata_rows_mismatch(tmp_path, spill_root):
    v, wv = write_vocabs(tmp_path / "vocab")
    store = write_splatnlp_efficient(tmp_path / "ue", ULTRA)
    meta = store / "metadata" / "batch_0001.parquet"
    pq.write_table(pq.read_table(meta).slice(0, 10), meta)
    refused(
        tmp_path,
        [good_full(tmp_path), ModelInputs("ultra", splatnlp_acts=store)],
        "batch_0001.parquet",
        "rows",
        vocab=v,
        weapon_vocab=wv,
    )


def test_decoder_of_the_wrong_width(tmp_path, spill_root):
    pth = write_torch_checkpoint(tmp_path / "ultra.pth", decoder_for(ULTRA))
    models = [
        ModelInputs(
            "full",
            acts=write_npz(tmp_path / "f.npz", FULL),
            tokens=write_tokens_jsonl(tmp_path / "f.jsonl", FULL),
            decoder=pth,
        ),
        ultra_acts(tmp_path, write_npz(tmp_path / "u.npz", ULTRA)),
    ]
    refused(tmp_path, models, "ultra.pth", "'decoder.weight'", "other model")


def test_missing_table_column(tmp_path, spill_root):
    path = tmp_path / "top.parquet"
    pq.write_table(pa.table({"feature_id": [0, 1], "activation": [1.0, 2.0]}), path)
    refused(tmp_path, [good_full(tmp_path), ModelInputs("ultra", top=path)], "top.parquet", "'tokens'")


# ---- NaN, inf, negative ---------------------------------------------------------------------
def test_nan_in_sparse_and_dense_activations(tmp_path, spill_root):
    csr = ULTRA.csr.copy()
    csr.data[3] = np.nan
    np.savez(
        tmp_path / "nan.npz", indptr=csr.indptr, indices=csr.indices, data=csr.data, shape=np.array(csr.shape)
    )
    refused(
        tmp_path,
        [good_full(tmp_path), ultra_acts(tmp_path, tmp_path / "nan.npz")],
        "nan.npz",
        "'data'",
        "NaN",
    )
    dense = ULTRA.dense.copy()
    dense[100, 5] = np.inf
    np.save(tmp_path / "inf.npy", dense)
    refused(
        tmp_path,
        [good_full(tmp_path), ultra_acts(tmp_path, tmp_path / "inf.npy")],
        "inf.npy",
        "row 100",
        "feature 5",
    )


def test_nan_in_zarr_batch_and_top_table(tmp_path, spill_root):
    v, wv = write_vocabs(tmp_path / "vocab")
    bad = ULTRA.dense.copy()
    bad[-1, 0] = np.nan
    store = write_splatnlp_efficient(
        tmp_path / "ue", type(ULTRA)(ULTRA.name, ULTRA.ability, ULTRA.weapon, bad)
    )
    refused(
        tmp_path,
        [good_full(tmp_path), ModelInputs("ultra", splatnlp_acts=store)],
        "batch_0001.zarr",
        "NaN",
        vocab=v,
        weapon_vocab=wv,
    )
    table = tmp_path / "nan.csv"
    write_top_table(table, ULTRA, "csv")
    lines = table.read_text().splitlines()
    parts = lines[3].split(",", 2)
    lines[3] = ",".join([parts[0], "nan", parts[2]])
    table.write_text("\n".join(lines) + "\n")
    refused(
        tmp_path, [good_full(tmp_path), ModelInputs("ultra", top=table)], "nan.csv", "'activation'", "NaN"
    )


def test_negative_activations_are_refused(tmp_path, spill_root):
    np.save(tmp_path / "neg.npy", ULTRA.dense - 0.5)
    refused(
        tmp_path, [good_full(tmp_path), ultra_acts(tmp_path, tmp_path / "neg.npy")], "neg.npy", "negative"
    )


# ---- pickles where a state dict is expected -------------------------------------------------
class _Payload:
    """Unpickling this would create a marker file: it must never happen."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_instead_of_state_dict_is_refused_unexecuted(tmp_path, spill_root):
    marker = tmp_path / "pwned"
    evil = tmp_path / "sae_model_final.pth"
    evil.write_bytes(pickle.dumps({"decoder.weight": _Payload(str(marker))}))
    top_f = write_top_table(tmp_path / "f.parquet", FULL, "parquet")
    top_u = write_top_table(tmp_path / "u.parquet", ULTRA, "parquet")
    msg = refused(
        tmp_path,
        [ModelInputs("full", top=top_f, decoder=evil), ModelInputs("ultra", top=top_u)],
        "sae_model_final.pth",
        "refused",
        "state_dict",
    )
    assert not marker.exists()
    assert "weights_only=False" not in msg  # never suggest the unsafe load

    import torch

    wrapped = tmp_path / "wrapped.pth"
    torch.save(
        {"model_state_dict": {"decoder.weight": torch.zeros(4, N_FULL)}, "cfg": _Payload(str(marker))},
        wrapped,
    )
    refused(
        tmp_path,
        [ModelInputs("full", top=top_f, decoder=wrapped), ModelInputs("ultra", top=top_u)],
        "wrapped.pth",
        "refused",
    )
    assert not marker.exists()


def test_state_dict_without_decoder(tmp_path, spill_root):
    import torch

    path = tmp_path / "enc_only.pth"
    torch.save({"encoder.weight": torch.zeros(N_FULL, 4)}, path)
    top_f = write_top_table(tmp_path / "f.parquet", FULL, "parquet")
    refused(
        tmp_path,
        [
            ModelInputs("full", top=top_f, decoder=path),
            ModelInputs("ultra", top=write_top_table(tmp_path / "u.parquet", ULTRA, "parquet")),
        ],
        "enc_only.pth",
        "encoder.weight",
        "'decoder.weight'",
    )


# ---- vocabularies ---------------------------------------------------------------------------
def test_tokens_missing_from_the_shared_vocab(tmp_path, spill_root):
    v, wv = write_vocabs(tmp_path / "vocab")  # no --weapon-vocab below: weapon tokens are missing
    refused(
        tmp_path,
        [good_full(tmp_path), ultra_acts(tmp_path, write_npz(tmp_path / "u.npz", ULTRA))],
        "full.jsonl",
        "'tokens'",
        "missing from the shared vocabulary",
        "weapon_id_",
        vocab=v,
    )


def test_token_ids_outside_the_vocab(tmp_path, spill_root):
    small = tmp_path / "small_vocab.json"
    small.write_text(json.dumps(["<PAD>", "a0", "a1"]))
    top = write_top_table(tmp_path / "ids.parquet", ULTRA, "parquet", as_ids=True)
    refused(
        tmp_path,
        [good_full(tmp_path), ModelInputs("ultra", top=top, vocab=small)],
        "ids.parquet",
        "'tokens'",
        "small_vocab.json",
    )


def test_splatnlp_weapon_id_outside_weapon_vocab(tmp_path, spill_root):
    v, _ = write_vocabs(tmp_path / "vocab")
    few = tmp_path / "few_weapons.json"
    few.write_text(json.dumps({"weapon_id_0": 0}))
    store = write_splatnlp_top(tmp_path / "ut", ULTRA)
    refused(
        tmp_path,
        [good_full(tmp_path), ModelInputs("ultra", splatnlp_top=store)],
        "all_examples.parquet",
        "weapon id",
        "few_weapons.json",
        vocab=v,
        weapon_vocab=few,
    )


def test_splatnlp_needs_both_vocabs(tmp_path, spill_root):
    store = write_splatnlp_top(tmp_path / "ut", ULTRA)
    refused(tmp_path, [good_full(tmp_path), ModelInputs("ultra", splatnlp_top=store)], "--weapon-vocab")


# ---- alignment and keys ---------------------------------------------------------------------
def test_examples_that_do_not_align(tmp_path, spill_root):
    keys_f = [f"full-{i}" for i in range(len(FULL.weapon))]
    keys_u = tmp_path / "ultra_keys.txt"
    keys_u.write_text("\n".join(f"ultra-{i}" for i in range(len(ULTRA.weapon))))
    full = ModelInputs(
        "full",
        acts=write_npz(tmp_path / "f.npz", FULL),
        tokens=write_tokens_jsonl(tmp_path / "f.jsonl", FULL, keys=keys_f),
    )
    ultra = ModelInputs(
        "ultra",
        acts=write_npz(tmp_path / "u.npz", ULTRA),
        tokens=write_tokens_jsonl(tmp_path / "u.jsonl", ULTRA),
        keys=keys_u,
    )
    refused(tmp_path, [full, ultra], "f.npz", "u.npz", "no example key is shared")


def test_duplicate_explicit_keys(tmp_path, spill_root):
    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join(["same"] * len(ULTRA.weapon)))
    ultra = ModelInputs(
        "ultra",
        acts=write_npz(tmp_path / "u.npz", ULTRA),
        tokens=write_tokens_jsonl(tmp_path / "u.jsonl", ULTRA),
        keys=keys,
    )
    refused(tmp_path, [good_full(tmp_path), ultra], "keys.txt", "'same'", "unique")


def test_labels_of_another_model(tmp_path, spill_root):
    labels = write_labels(tmp_path / "labels_ultra.json", 20)
    full = good_full(tmp_path)
    full.labels = labels
    refused(
        tmp_path,
        [full, ultra_acts(tmp_path, write_npz(tmp_path / "u.npz", ULTRA))],
        "labels_ultra.json",
        "outside 0..7",
    )


def test_bad_model_declarations(tmp_path, spill_root):
    f = good_full(tmp_path)
    refused(tmp_path, [f, ModelInputs("full", top=tmp_path / "x.parquet")], "different names")
    refused(tmp_path, [f, ModelInputs("../evil", top=tmp_path / "x.parquet")], "'../evil'", "names a folder")
    refused(tmp_path, [f, ModelInputs("ultra", acts=tmp_path / "u.npz")], "tokens=")
    refused(
        tmp_path, [f, ModelInputs("ultra", top=tmp_path / "nowhere.parquet")], "nowhere.parquet", "not found"
    )


def test_existing_folder_that_is_not_a_pair_is_never_replaced(tmp_path, spill_root):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(InputError, match="never replaced"):
        build_pair_from_inputs(
            out,
            [good_full(tmp_path), ultra_acts(tmp_path, write_npz(tmp_path / "u.npz", ULTRA))],
            overwrite=True,
            progress=False,
        )
    assert (out / "thesis.tex").read_text() == "years of work"


def test_failed_rebuild_keeps_the_previous_pair(tmp_path, spill_root):
    out = tmp_path / "pair"
    models = [good_full(tmp_path), ultra_acts(tmp_path, write_npz(tmp_path / "u.npz", ULTRA))]
    build_pair_from_inputs(out, models, progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    dense = ULTRA.dense.copy()
    dense[-1, -1] = np.nan
    np.save(tmp_path / "late_nan.npy", dense)
    with pytest.raises(InputError, match="late_nan.npy"):
        build_pair_from_inputs(
            out, [models[0], ultra_acts(tmp_path, tmp_path / "late_nan.npy")], overwrite=True, progress=False
        )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(os.listdir(tmp_path / "tmp")) == []


# ---- the command line -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model_arg", "expected"),
    [
        ("ultra", "expected NAME:KEY=VALUE"),
        ("ultra:colour=blue", "unknown key 'colour'"),
        ("ultra:top", "is not KEY=VALUE"),
        ("ultra:features=many,top=x.parquet", "must be an integer"),
        ("ultra:top=missing.parquet", "missing.parquet: file not found"),
    ],
)
def test_cli_errors_exit_2_without_traceback(tmp_path, capsys, model_arg, expected):
    full = write_top_table(tmp_path / "full.parquet", FULL, "parquet")
    code = cli_main(
        [
            "build",
            "--out",
            str(tmp_path / "pair"),
            "--quiet",
            "--model",
            f"full:top={full}",
            "--model",
            model_arg,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and expected in err and "Traceback" not in err
    assert not (tmp_path / "pair").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)
