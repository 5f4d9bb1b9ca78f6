"""The streamed build at scale, on small stores: blocked products, the sample, limits, resume, faults."""

from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pytest
import scipy.sparse as sp

from crossmodel_matcher.errors import InputError
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_source import build_pair
from crossmodel_matcher.store import stream_pass
from crossmodel_matcher.store.checkpoint import HeldRows, state_dir_for
from crossmodel_matcher.store.cross_stats import BlockedCross
from crossmodel_matcher.store.format import load_pair
from crossmodel_matcher.store.ingest import build_pair_tables
from crossmodel_matcher.store.limits import BuildLimits
from crossmodel_matcher.store.memory_budget import parse_size
from crossmodel_matcher.store.splatnlp_reader import read_efficient_store
from crossmodel_matcher.store.stream_build import sample_positions
from crossmodel_matcher.store.vocab_reader import read_id_vocab
from tests.test_build_fixtures import SHARED_VOCAB, write_splatnlp_efficient, write_vocabs
from tests.test_build_streaming import FULL, ULTRA, _sources


def _random(rng, n, f, density):
    dense = rng.exponential(1.0, (n, f)).astype(np.float32) * (rng.random((n, f)) < density)
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("method", ["dense", "sparse", "auto"])
def test_blocked_products_equal_the_plain_products(method):
    rng = np.random.default_rng(0)
    a, b = _random(rng, 700, 13, 0.3), _random(rng, 700, 40, 0.2)
    cross = BlockedCross(13, 40, "cpu", method=method)
    for lo in range(0, 700, 97):  # uneven blocks, b sometimes dense
        bb = b[lo : lo + 97]
        cross.add(a[lo : lo + 97], bb.toarray() if lo % 2 else bb)
    sum_prod, cofire = cross.result()
    np.testing.assert_allclose(sum_prod, (a.T @ b).toarray(), rtol=1e-5)
    ones = lambda m: (m > 0).astype(np.float32)  # noqa: E731
    np.testing.assert_array_equal(cofire, (ones(a).T @ ones(b)).toarray())
    if method == "auto":  # measured both ways on the first block, then chose per block
        assert cross.costs is not None and cross.costs.dense_per_mac > 0 and cross.costs.sparse_per_mac > 0


def _streams(tmp_path):
    v, wv = write_vocabs(tmp_path / "vocab")
    vocab, weapons = read_id_vocab(v), read_id_vocab(wv)
    out = []
    for d, batches in ((FULL, 3), (ULTRA, 4)):
        folder = write_splatnlp_efficient(tmp_path / d.name, d, batches, chunk_rows=8)
        out.append(read_efficient_store(folder, vocab, weapons)[0])
    return out


def test_sample_bounds_the_stored_activations_not_the_statistics(tmp_path):
    core = build_pair_tables(SHARED_VOCAB, *_sources(None, None), progress=False)
    lim = BuildLimits(sample_examples=60, block_bytes=8 * 4 * 20, state_dir=tmp_path / "state")
    pair = build_pair_tables(SHARED_VOCAB, *_sources(*_streams(tmp_path)), progress=False, limits=lim)
    assert pair.n_aligned == core.n_aligned == 253 and pair.n_sample == pair.n_sampled == 60
    np.testing.assert_allclose(pair.cross_sum_prod, core.cross_sum_prod, rtol=1e-5)
    np.testing.assert_array_equal(pair.cross_cofire, core.cross_cofire)
    keys = np.sort(np.asarray(_sources(None, None)[0].example_keys))
    want_rows = sample_positions(np.intersect1d(keys, np.asarray(_sources(None, None)[1].example_keys)), 60)
    for c, s in zip(core.models, pair.models):
        # moments over all aligned examples, as the unsampled pair has them
        np.testing.assert_array_equal(s.col_nnz, c.col_nnz)
        np.testing.assert_allclose(s.col_sum, c.col_sum, rtol=1e-6)
        np.testing.assert_allclose(s.col_sumsq, c.col_sumsq, rtol=1e-6)
        # stored activations: the sampled aligned rows, nothing else
        full = sp.csc_matrix((c.act_data, c.act_indices, c.act_indptr), shape=(253, c.n_features))
        got = sp.csc_matrix((s.act_data, s.act_indices, s.act_indptr), shape=(60, s.n_features))
        np.testing.assert_array_equal(got.toarray(), full[want_rows].toarray())
    rep = Matcher(pair, progress=False).find_decomposition("full", int(np.argmax(core.models[0].col_nnz)))
    assert "sample of 60 of the 253 aligned examples" in rep.method


def test_sample_is_the_smallest_key_hashes_and_ignores_order():
    keys = np.array([f"k{i}" for i in range(200)])
    a = sample_positions(keys, 17)
    assert len(a) == 17 and np.all(np.diff(a) > 0)
    perm = np.random.default_rng(1).permutation(200)
    assert set(keys[perm][sample_positions(keys[perm], 17)]) == set(keys[a])
    assert sample_positions(keys, 500).tolist() == list(range(200))


def test_killed_build_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    streams = _streams(tmp_path)
    lim = BuildLimits(block_bytes=8 * 4 * 20, checkpoint_seconds=0.0)
    whole = build_pair(SHARED_VOCAB, *_sources(*streams), tmp_path / "whole", progress=False, limits=lim)
    out = tmp_path / "pair"
    real_add, calls = stream_pass.ModelPass.add, {"n": 0}

    def dying_add(self, row0, block):
        if self.role == "streamed":
            calls["n"] += 1
            if calls["n"] == 20:
                raise KeyboardInterrupt  # killed half-way through the wide model
        return real_add(self, row0, block)

    monkeypatch.setattr(stream_pass.ModelPass, "add", dying_add)
    with pytest.raises(KeyboardInterrupt):
        build_pair(SHARED_VOCAB, *_sources(*streams), out, progress=False, limits=lim)
    assert not out.exists()  # no half-pair, loadable or not
    state = state_dir_for(out)
    assert json.loads((state / "checkpoint" / "state.json").read_text())["rows"] > 0
    calls["n"] = -10**9
    seen = []
    monkeypatch.setattr(stream_pass.ModelPass, "add", lambda s, r, b: (seen.append((s.role, r)), real_add(s, r, b)))
    build_pair(SHARED_VOCAB, *_sources(*streams), out, progress=False, limits=lim)
    assert not state.exists()
    assert not any(role == "held" for role, _ in seen)  # the narrow model was not read again
    assert min(r for role, r in seen if role == "streamed") > 0  # nor the wide one from row 0
    a, b = load_pair(whole), load_pair(out)
    np.testing.assert_allclose(b.cross_sum_prod, a.cross_sum_prod, rtol=1e-6)
    np.testing.assert_array_equal(b.cross_cofire, a.cross_cofire)
    for x, y in zip(a.models, b.models):
        for name in ("fire_count", "max_activation", "top_token_ids", "act_indptr", "act_indices", "act_data"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)


def test_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    def full(self, positions, rows):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(HeldRows, "append", lambda self, p, r: _guarded(self, full, p, r))
    out = tmp_path / "pair"
    with pytest.raises(InputError, match="disk is full"):
        build_pair(SHARED_VOCAB, *_sources(*_streams(tmp_path)), out, progress=False)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pair.tmp")]


def _guarded(self, fn, p, r):
    from crossmodel_matcher.store.checkpoint import disk_guard

    with disk_guard(self.folder, "the held rows"):
        fn(self, p, r)


def test_missing_zarr_chunk_names_the_batch_and_chunk(tmp_path):
    v, wv = write_vocabs(tmp_path / "vocab")
    folder = write_splatnlp_efficient(tmp_path / "ultra", ULTRA, 2, chunk_rows=8)
    batch = folder / "activations" / "batch_0001.zarr"
    shutil.rmtree(batch / "c" / "3")
    with pytest.raises(InputError, match=r"batch_0001\.zarr: chunk 'c/3/0' \(rows 24\.\.31\) is missing"):
        read_efficient_store(folder, read_id_vocab(v), read_id_vocab(wv))


def test_corrupt_zarr_chunk_names_the_batch_and_rows(tmp_path):
    v, wv = write_vocabs(tmp_path / "vocab")
    folder = write_splatnlp_efficient(tmp_path / "ultra", ULTRA, 2, chunk_rows=8)
    (folder / "activations" / "batch_0000.zarr" / "c" / "2" / "0").write_bytes(b"not zstd at all")
    stream, _ = read_efficient_store(folder, read_id_vocab(v), read_id_vocab(wv))
    with pytest.raises(InputError, match=r"batch_0000\.zarr: rows .* unreadable .* corrupt"):
        list(stream.dense_blocks(0, 8 * 4 * ULTRA.dense.shape[1]))


def test_limits_parse_and_reach_the_manifest(tmp_path):
    assert parse_size("8G") == 8 << 30 and parse_size("512M") == 512 << 20 and parse_size("6GiB") == 6 << 30
    with pytest.raises(ValueError, match="memory limit 'lots'"):
        parse_size("lots")
    lim = BuildLimits(max_examples=200, sample_examples=50, memory_limit=2 << 30)
    assert lim.block_size() == (2 << 30) // 48  # the one limit also sizes the blocks
    out = build_pair(SHARED_VOCAB, *_sources(*_streams(tmp_path)), tmp_path / "p", progress=False, limits=lim)
    manifest = json.loads((out / "pair.json").read_text())
    assert manifest["build_limits"] == {"max_examples": 200, "sample_examples": 50,
                                        "memory_limit": 2 << 30, "device": "cpu"}
    assert manifest["n_sample_examples"] == 50
    assert all(m["n_examples"] == 200 for m in manifest["models"])
    pair = load_pair(out)
    assert pair.n_sample == 50 and pair.n_aligned < 253


def test_streamed_reports_equal_in_memory_reports(tmp_path):
    """The same data built both ways answers with the same ids, verdicts and bands."""
    core = build_pair_tables(SHARED_VOCAB, *_sources(None, None), progress=False)
    lim = BuildLimits(block_bytes=8 * 4 * 20, state_dir=tmp_path / "state")
    streamed = build_pair_tables(SHARED_VOCAB, *_sources(*_streams(tmp_path)), progress=False, limits=lim)
    m1, m2 = Matcher(core), Matcher(streamed)
    for model in ("full", "ultra"):
        for f in range(core.model(model).n_features):
            a, b = m1.find_matches(model, f), m2.find_matches(model, f)
            assert a.match_ids == b.match_ids and a.counterpart_ids == b.counterpart_ids
            for x, y in zip(a.matches, b.matches):
                assert x.evidence.calibrated_band == y.evidence.calibrated_band
                assert x.evidence.match_score == pytest.approx(y.evidence.match_score, abs=1e-5)
            da, db = m1.find_decomposition(model, f), m2.find_decomposition(model, f)
            assert (da.verdict, da.part_ids) == (db.verdict, db.part_ids)
