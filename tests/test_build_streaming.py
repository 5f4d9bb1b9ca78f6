"""The block-by-block reduction equals the core's whole-matrix path, however the rows are cut."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from crossmodel_matcher.errors import InputError
from crossmodel_matcher.store import activation_stream
from crossmodel_matcher.store.activation_stream import CsrStream, TopK, sparsify_block
from crossmodel_matcher.store.derive import TokenRows, top_examples_from_activations
from crossmodel_matcher.store.ingest import build_pair_tables
from crossmodel_matcher.store.limits import BuildLimits
from crossmodel_matcher.store.sources import ModelSource
from crossmodel_matcher.store.splatnlp_reader import read_efficient_store
from crossmodel_matcher.store.vocab_reader import derive_keys, read_id_vocab, to_shared
from tests.test_build_fixtures import SHARED_VOCAB, make_world, write_splatnlp_efficient, write_vocabs

FULL, ULTRA = make_world()


def test_topk_matches_core_top_examples_with_ties():
    rng = np.random.default_rng(1)
    n, f = 500, 9
    dense = np.round(rng.random((n, f)) * 4) / 4 * (rng.random((n, f)) < 0.6)  # many exact ties
    csr = sp.csr_matrix(dense.astype(np.float32))
    tokens = TokenRows.from_lists([[i % 5] for i in range(n)])
    want = top_examples_from_activations(csr, tokens, per_feature=7)
    topk = TopK(f, k=7, merge_min=10)  # merge often: the floor filters most blocks
    for lo in range(0, n, 13):
        block = csr[lo : lo + 13]
        rows = lo + np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
        topk.add(block.indices, block.data, rows)
    fid, act, row = topk.result()
    np.testing.assert_array_equal(fid, want.feature_id)
    np.testing.assert_array_equal(act, want.activation)
    np.testing.assert_array_equal(tokens.take(row).indices, want.tokens.indices)


def _sources(stream_full, stream_ultra):
    out = []
    for d, stream in ((FULL, stream_full), (ULTRA, stream_ultra)):
        tokens = d.token_rows()
        src = ModelSource(d.name, d.dense.shape[1], derive_keys(tokens, SHARED_VOCAB), tokens, origin=d.name)
        if stream is None:
            src.activations = d.csr
        else:
            src.activation_stream = stream
        out.append(src)
    return out


@pytest.mark.parametrize(("block_bytes", "wide_first"), [(8 * 4 * 20, False), (8 * 4 * 20, True), (None, False)])
def test_many_small_blocks_equal_core_path(tmp_path, block_bytes, wide_first):
    v, wv = write_vocabs(tmp_path / "vocab")
    vocab, weapons = read_id_vocab(v), read_id_vocab(wv)
    streams = []
    for d, batches in ((FULL, 3), (ULTRA, 4)):
        stream, tokens = read_efficient_store(
            write_splatnlp_efficient(tmp_path / d.name, d, batches, chunk_rows=8), vocab, weapons
        )
        index = {t: i for i, t in enumerate(SHARED_VOCAB)}
        np.testing.assert_array_equal(to_shared(tokens, index, "v").indices, d.token_rows().indices)
        streams.append(stream)
    limits = BuildLimits(block_bytes=block_bytes)  # 8 * 4 * 20: blocks of 8 rows
    core_sources, streamed_sources = _sources(None, None), _sources(*streams)
    if wide_first:  # the narrow model (read first, held on disk) is then source b
        core_sources, streamed_sources = core_sources[::-1], streamed_sources[::-1]
    core = build_pair_tables(SHARED_VOCAB, *core_sources, progress=False)
    streamed = build_pair_tables(SHARED_VOCAB, *streamed_sources, progress=False, limits=limits)
    assert streamed.n_aligned == core.n_aligned == 253
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
    np.testing.assert_allclose(core.cross_sum_prod, streamed.cross_sum_prod, rtol=1e-5)
    np.testing.assert_array_equal(core.cross_cofire, streamed.cross_cofire)


def test_repeated_keys_align_their_first_row():
    keys_a = np.array(["x", "y", "x", "z"])
    keys_b = np.array(["z", "x", "x", "q"])
    rows_a, rows_b = activation_stream.align_first_rows(keys_a, keys_b)
    assert rows_a.tolist() == [0, 3] and rows_b.tolist() == [1, 0]


def test_sparsify_block_checks_values():
    block = np.array([[0, 1.5, 0], [2, 0, 0]], dtype=np.float32)
    csr = sparsify_block(block, "here")
    np.testing.assert_array_equal(csr.toarray(), block)
    with pytest.raises(InputError, match="here: NaN or inf at block row 1, feature 2"):
        sparsify_block(np.array([[0, 0, 0], [0, 0, np.nan]], dtype=np.float32), "here")
    with pytest.raises(InputError, match="negative"):
        sparsify_block(-block, "here")


def test_stream_that_breaks_its_promise_is_named():
    class Short(CsrStream):
        def blocks(self):
            yield 0, self.matrix[:10]

    full, ultra = _sources(None, Short(ULTRA.csr, "short-store"))
    with pytest.raises(InputError, match="short-store: 10 activation rows read, 270 expected"):
        build_pair_tables(SHARED_VOCAB, full, ultra, progress=False)
