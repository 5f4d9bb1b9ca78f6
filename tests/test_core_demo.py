"""The full-size demo pair: real sizes, planted truth recovered, deterministic generation."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodel_matcher.demo import N_FULL, N_ULTRA, demo_vocab, generate_builds, load_truth

pytestmark = pytest.mark.demo


def test_demo_pair_has_the_real_sizes(demo, demo_pair_dir):
    info = demo.info()
    assert [(m.name, m.n_features) for m in info.models] == [("full", N_FULL), ("ultra", N_ULTRA)]
    assert info.n_aligned_examples >= 20_000
    assert len([t for t in demo.pair.vocab if not t.startswith(("<", "weapon_id_"))]) == 138
    truth = load_truth(demo_pair_dir)
    roles = {t["role"] for t in truth["full"]}
    assert roles == {"one_to_one", "split", "polysemantic", "unique", "dead"}
    split_sizes = [len(t["counterparts"]) for t in truth["full"] if t["role"] == "split"]
    assert min(split_sizes) == 2 and max(split_sizes) == 12
    assert {t["role"] for t in truth["ultra"]} == {"one_to_one", "child", "component", "unique", "dead"}


def test_planted_one_to_one_pairs_rank_first_both_ways(demo, demo_pair_dir):
    truth = load_truth(demo_pair_dir)
    pairs = [(t["feature"], t["counterparts"][0]) for t in truth["full"] if t["role"] == "one_to_one"]
    rng = np.random.default_rng(1)
    sample = [pairs[i] for i in rng.choice(len(pairs), size=60, replace=False)]
    down = np.mean([demo.find_matches("full", f, 5).match_ids[0] == u for f, u in sample])
    up = np.mean([demo.find_matches("ultra", u, 5).match_ids[0] == f for f, u in sample])
    assert down >= 0.95 and up >= 0.95
    rep = demo.find_matches("full", sample[0][0], 3)
    assert rep.n_candidates_tested == N_FULL * 12 and rep.has_counterpart


def test_planted_splits_and_mixtures_are_recovered(demo, demo_pair_dir):
    truth = load_truth(demo_pair_dir)
    rng = np.random.default_rng(2)
    for role, verdict in (("split", "split"), ("polysemantic", "polysemantic")):
        items = [t for t in truth["full"] if t["role"] == role]
        picked = [items[i] for i in rng.choice(len(items), size=40, replace=False)]
        hits, f1s = 0, []
        for t in picked:
            rep = demo.find_decomposition("full", t["feature"], 12)
            hits += rep.verdict == verdict
            true, pred = set(t["counterparts"]), set(rep.part_ids)
            tp = len(true & pred)
            f1s.append(2 * tp / (len(true) + len(pred)) if pred else 0.0)
        assert hits / len(picked) >= 0.8, role
        assert np.mean(f1s) >= 0.8, role


def test_unique_and_dead_features_have_no_counterpart(demo, demo_pair_dir):
    truth = load_truth(demo_pair_dir)
    unique = [t["feature"] for t in truth["full"] if t["role"] == "unique"][:40]
    assert np.mean([not demo.find_matches("full", f).has_counterpart for f in unique]) >= 0.9
    dead = [t["feature"] for t in truth["ultra"] if t["role"] == "dead"][:10]
    assert all(demo.find_matches("ultra", f).source_dead for f in dead)


def test_build_generation_is_deterministic():
    vocab = demo_vocab()
    a = generate_builds(np.random.default_rng(5), 500, vocab)
    b = generate_builds(np.random.default_rng(5), 500, vocab)
    assert list(a.keys) == list(b.keys)
    assert np.array_equal(a.tokens.indices, b.tokens.indices)
    # Cumulative rungs: a build holding swim_speed_up_21 holds every lower rung too.
    names = [[vocab[t] for t in a.tokens.indices[a.tokens.indptr[i]:a.tokens.indptr[i + 1]]]
             for i in range(len(a.keys))]
    for toks in names:
        if "swim_speed_up_21" in toks:
            assert {"swim_speed_up_3", "swim_speed_up_6", "swim_speed_up_12", "swim_speed_up_15"} <= set(toks)
