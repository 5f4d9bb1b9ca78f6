"""`crossmodel-matcher build` from every input kind: the pair loads and answers every query."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossmodel_matcher.cli import main as cli_main
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_source import build_pair_from_inputs, open_pair
from crossmodel_matcher.store.ingest import build_pair_tables
from crossmodel_matcher.store.inputs_reader import ModelInputs
from crossmodel_matcher.store.sources import ModelSource
from crossmodel_matcher.store.vocab_reader import derive_keys
from tests.test_build_fixtures import (
    N_FULL,
    N_ULTRA,
    SHARED_VOCAB,
    decoder_for,
    make_world,
    write_labels,
    write_npz,
    write_safetensors,
    write_splatnlp_efficient,
    write_splatnlp_top,
    write_tokens_jsonl,
    write_top_table,
    write_torch_checkpoint,
    write_vocabs,
)

FULL, ULTRA = make_world()


def build(tmp: Path, full: ModelInputs, ultra: ModelInputs, **kw) -> tuple[Matcher, object]:
    summary = build_pair_from_inputs(tmp / "pair", [full, ultra], progress=False, **kw)
    return open_pair(tmp / "pair"), summary


def assert_served(m: Matcher) -> None:
    """The pair serves the three tools through the MCP server, with the core's answers."""
    import anyio
    from mcp import Client

    from crossmodel_matcher.server import create_server

    calls = [
        ("find_matches", {"model": "full", "feature": 3, "top_n": 3, "response_format": "detailed"},
         lambda: m.find_matches("full", 3, 3)),
        ("compare_features", {"model": "full", "source_feature": 3, "target_feature": 7,
                              "response_format": "detailed"}, lambda: m.compare_features("full", 3, 7)),
        ("find_decomposition", {"model": "full", "feature": 3, "response_format": "detailed"},
         lambda: m.find_decomposition("full", 3)),
    ]

    async def go() -> None:
        async with Client(create_server(m)) as client:
            for tool, args, direct in calls:
                result = await client.call_tool(tool, args)
                assert not result.is_error, result.content[0].text
                got, want = result.structured_content, direct().model_dump(mode="json")
                for key in ("match_ids", "part_ids", "evidence"):
                    if key in want:
                        assert got[key] == want[key], (tool, key)

    anyio.run(go)


def assert_answers(m: Matcher, activations: bool) -> None:
    """Every query answers (in-process and through the server); with activations, full 3's
    children (ultra 6, 7) come first."""
    assert_served(m)
    report = m.find_matches("full", 3, top_n=5)
    assert len(report.matches) == 5 and report.n_candidates_tested == N_ULTRA
    if activations:
        assert set(report.match_ids[:2]) == {6, 7}
        assert report.matches[0].evidence.activation_correlation > 0.3
    else:
        assert report.matches[0].evidence.activation_correlation is None
    back = m.find_matches("ultra", 6, top_n=3)
    assert back.match_ids[0] == 3
    cmp = m.compare_features("full", 3, 7)
    assert "a3" in [t.token for t in cmp.tokens.shared_tokens]
    dec = m.find_decomposition("full", 3)
    if activations:
        assert dec.verdict == "split" and {p.feature for p in dec.parts} >= {6, 7}
    else:
        assert dec.verdict in ("one_to_one", "split", "polysemantic", "no_counterpart")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_generic_top_tables(tmp_path, fmt):
    full = write_top_table(tmp_path / f"full.{fmt}", FULL, fmt)
    ultra = write_top_table(tmp_path / f"ultra.{fmt}", ULTRA, fmt)
    m, s = build(tmp_path, ModelInputs("full", top=full), ModelInputs("ultra", top=ultra, features=N_ULTRA))
    assert [x.n_features for x in s.models] == [N_FULL, N_ULTRA]
    assert s.n_aligned == 0 and not s.activations
    # No --vocab: the vocabulary is the sorted union of the tokens seen (specials never occur).
    assert m.pair.vocab == sorted(set(SHARED_VOCAB) - {"<PAD>", "<NULL>"})
    assert_answers(m, activations=False)


def test_top_table_with_token_ids_and_vocab(tmp_path):
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps(SHARED_VOCAB))
    full = write_top_table(tmp_path / "full.parquet", FULL, "parquet", as_ids=True)
    ultra = write_top_table(tmp_path / "ultra.jsonl", ULTRA, "jsonl", as_ids=True)
    m, _ = build(tmp_path, ModelInputs("full", top=full), ModelInputs("ultra", top=ultra), vocab=vocab)
    assert m.pair.vocab == SHARED_VOCAB
    assert_answers(m, activations=False)


def test_generic_activations_npz_and_npy(tmp_path):
    full = ModelInputs(
        "full",
        acts=write_npz(tmp_path / "full.npz", FULL),
        tokens=write_tokens_jsonl(tmp_path / "full.jsonl", FULL),
    )
    np.save(tmp_path / "ultra.npy", ULTRA.dense)
    ultra = ModelInputs(
        "ultra", acts=tmp_path / "ultra.npy", tokens=write_tokens_jsonl(tmp_path / "ultra.jsonl", ULTRA)
    )
    m, s = build(tmp_path, full, ultra)
    assert s.activations and s.n_aligned == 253
    assert [x.n_examples for x in s.models] == [len(FULL.weapon), len(ULTRA.weapon)]
    assert_answers(m, activations=True)


def test_explicit_example_keys(tmp_path):
    def keys(d):
        return [f"w{w}:" + ",".join(map(str, ab)) for ab, w in zip(d.ability, d.weapon)]

    (tmp_path / "ultra_keys.txt").write_text("\n".join(keys(ULTRA)) + "\n")
    full = ModelInputs(
        "full",
        acts=write_npz(tmp_path / "full.npz", FULL),
        tokens=write_tokens_jsonl(tmp_path / "full.jsonl", FULL, keys=keys(FULL)),
    )
    ultra = ModelInputs(
        "ultra",
        acts=write_npz(tmp_path / "ultra.npz", ULTRA),
        tokens=write_tokens_jsonl(tmp_path / "ultra.jsonl", ULTRA),
        keys=tmp_path / "ultra_keys.txt",
    )
    m, s = build(tmp_path, full, ultra)
    assert s.n_aligned == 253
    assert_answers(m, activations=True)


def test_splatnlp_stores_with_labels(tmp_path):
    v, wv = write_vocabs(tmp_path / "vocab")
    full = ModelInputs(
        "full",
        splatnlp_top=write_splatnlp_top(tmp_path / "ft", FULL),
        splatnlp_acts=write_splatnlp_efficient(tmp_path / "fe", FULL),
        labels=write_labels(tmp_path / "labels_full.json", N_FULL),
    )
    ultra = ModelInputs(
        "ultra",
        splatnlp_top=write_splatnlp_top(tmp_path / "ut", ULTRA),
        splatnlp_acts=write_splatnlp_efficient(tmp_path / "ue", ULTRA, n_batches=3, chunk_rows=32),
    )
    m, s = build(tmp_path, full, ultra, vocab=v, weapon_vocab=wv)
    assert m.pair.vocab == SHARED_VOCAB  # weapon tokens joined the shared vocabulary
    assert s.n_aligned == 253 and s.models[0].n_labels == N_FULL // 2
    assert m.describe_feature("full", 2).label == "feature 2"
    assert_answers(m, activations=True)


def test_mixed_kinds_top_table_and_efficient_store(tmp_path):
    v, wv = write_vocabs(tmp_path / "vocab")
    full = ModelInputs("full", top=write_top_table(tmp_path / "full.csv", FULL, "csv"))
    ultra = ModelInputs("ultra", splatnlp_acts=write_splatnlp_efficient(tmp_path / "ue", ULTRA))
    m, s = build(tmp_path, full, ultra, vocab=v, weapon_vocab=wv)
    assert not s.activations and s.models[1].n_examples == len(ULTRA.weapon)
    assert_answers(m, activations=False)


def test_checkpoints_decoder_and_activation_space(tmp_path):
    full_st = write_safetensors(tmp_path / "full_sae", decoder_for(FULL))
    ultra_st = write_safetensors(tmp_path / "ultra_sae", decoder_for(ULTRA))
    tops = [write_top_table(tmp_path / f"{d.name}.parquet", d, "parquet") for d in (FULL, ULTRA)]
    m, s = build(
        tmp_path,
        ModelInputs("full", top=tops[0], decoder=full_st),
        ModelInputs("ultra", top=tops[1], decoder=ultra_st),
    )
    assert s.decoder_cosine and m.pair.models[0].activation_space == "toy-model/blocks.4.hook_resid_post"
    assert m.find_matches("full", 3).matches[0].evidence.decoder_cosine is not None
    assert m.compare_features("full", 3, 6).evidence.decoder_cosine > 0.9

    # SplatNLP-style state dicts: the two base models differ, so no shared space, no cosine.
    full_pth = write_torch_checkpoint(tmp_path / "full.pth", decoder_for(FULL), wrap=True)
    ultra_pth = write_torch_checkpoint(tmp_path / "ultra.pth", decoder_for(ULTRA))
    out = tmp_path / "second"
    s2 = build_pair_from_inputs(
        out,
        [
            ModelInputs("full", top=tops[0], decoder=full_pth, space="full-base-512"),
            ModelInputs("ultra", top=tops[1], decoder=ultra_pth, space="ultra-base-512"),
        ],
        progress=False,
    )
    assert not s2.decoder_cosine and any("decoder cosine is off" in n for n in s2.notes)
    m2 = open_pair(out)
    assert (
        m2.pair.models[0].decoder is not None
        and m2.find_matches("full", 3).matches[0].evidence.decoder_cosine is None
    )
    np.testing.assert_allclose(
        m2.pair.models[1].decoder[6], decoder_for(ULTRA)[6] / np.linalg.norm(decoder_for(ULTRA)[6]), rtol=1e-5
    )


def test_same_data_as_table_and_as_activations_gives_same_token_tables(tmp_path):
    tables = build_pair_from_inputs(
        tmp_path / "a",
        [
            ModelInputs("full", top=write_top_table(tmp_path / "full.parquet", FULL, "parquet")),
            ModelInputs(
                "ultra", top=write_top_table(tmp_path / "ultra.jsonl", ULTRA, "jsonl"), features=N_ULTRA
            ),
        ],
        vocab=_list_vocab(tmp_path),
        progress=False,
    )
    acts = build_pair_from_inputs(
        tmp_path / "b",
        [
            ModelInputs(
                "full",
                acts=write_npz(tmp_path / "full.npz", FULL),
                tokens=write_tokens_jsonl(tmp_path / "f.jsonl", FULL),
            ),
            ModelInputs(
                "ultra",
                acts=write_npz(tmp_path / "ultra.npz", ULTRA),
                tokens=write_tokens_jsonl(tmp_path / "u.jsonl", ULTRA),
            ),
        ],
        vocab=_list_vocab(tmp_path),
        progress=False,
    )
    ma, mb = open_pair(tables.out_dir), open_pair(acts.out_dir)
    for a, b in zip(ma.pair.models, mb.pair.models):
        np.testing.assert_array_equal(a.top_token_ids, b.top_token_ids)
        np.testing.assert_array_equal(a.top_token_counts, b.top_token_counts)
        assert (a.top_token_ids >= 0).any()


def _list_vocab(tmp: Path) -> Path:
    path = tmp / "shared_vocab.json"
    path.write_text(json.dumps(SHARED_VOCAB))
    return path


def test_streamed_build_equals_core_in_memory_path():
    """The streaming reduction gives what `build_pair_tables` computes from whole matrices."""

    def source(d, stream: bool) -> ModelSource:
        tokens = d.token_rows()
        src = ModelSource(d.name, d.dense.shape[1], derive_keys(tokens, SHARED_VOCAB), tokens)
        if stream:
            from crossmodel_matcher.store.activation_stream import CsrStream

            src.activation_stream = CsrStream(d.csr, "memory")
        else:
            src.activations = d.csr
        return src

    core = build_pair_tables(SHARED_VOCAB, source(FULL, False), source(ULTRA, False), progress=False)
    streamed = build_pair_tables(SHARED_VOCAB, source(FULL, True), source(ULTRA, True), progress=False)
    assert core.n_aligned == streamed.n_aligned == 253
    for a, b in zip(core.models, streamed.models):
        for name in (
            "top_token_ids",
            "top_token_counts",
            "token_weights",
            "fire_count",
            "max_activation",
            "act_indptr",
            "act_indices",
            "act_data",
        ):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        np.testing.assert_allclose(a.mean_activation, b.mean_activation, rtol=1e-6)
    np.testing.assert_allclose(core.cross_sum_prod, streamed.cross_sum_prod, rtol=1e-5)
    np.testing.assert_array_equal(core.cross_cofire, streamed.cross_cofire)


def test_rerun_is_byte_identical(tmp_path):
    v, wv = write_vocabs(tmp_path / "vocab")
    models = [
        ModelInputs(
            "full",
            splatnlp_top=write_splatnlp_top(tmp_path / "ft", FULL),
            splatnlp_acts=write_splatnlp_efficient(tmp_path / "fe", FULL),
        ),
        ModelInputs(
            "ultra",
            acts=write_npz(tmp_path / "u.npz", ULTRA),
            tokens=write_tokens_jsonl(tmp_path / "u.jsonl", ULTRA),
        ),
    ]
    for out in ("one", "two"):
        build_pair_from_inputs(tmp_path / out, models, vocab=v, weapon_vocab=wv, progress=False)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert any(f.name == "act_data.npy" for f in files) and Path("cross/sum_prod.npy") in files
    for f in files:
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f


def test_cli_build_prints_summary_and_replaces_only_with_force(tmp_path, capsys):
    full = write_top_table(tmp_path / "full.parquet", FULL, "parquet")
    ultra_npz = write_npz(tmp_path / "ultra.npz", ULTRA)
    ultra_tok = write_tokens_jsonl(tmp_path / "ultra.jsonl", ULTRA)
    args = [
        "build",
        "--out",
        str(tmp_path / "pair"),
        "--quiet",
        "--model",
        f"full:top={full}",
        "--model",
        f"ultra:acts={ultra_npz},tokens={ultra_tok}",
    ]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "examples aligned across the models: 0" in out and "ultra" in out and "dead" in out
    assert cli_main(args) == 2
    assert "pass --force" in capsys.readouterr().err
    assert cli_main([*args, "--force", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [m["n_features"] for m in summary["models"]] == [N_FULL, N_ULTRA]
    assert open_pair(tmp_path / "pair").info().models[1].n_examples == len(ULTRA.weapon)
