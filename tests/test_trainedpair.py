"""The trained validation pair's generator: its data keeps the planted hierarchy, and its truth
follows from decoder alignment (the benchmark itself is benchmarks/bench_trained.py)."""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.trainedpair import truth
from crossmodel_matcher.trainedpair.data import make_features, sample


def test_children_fire_only_with_their_parent_and_one_at_a_time():
    tf = make_features(3, d=16, n_parents=6, n_solo=10, n_rare=5)
    _, mag = sample(tf, 4000, np.random.default_rng(0))
    fire = mag > 0
    for p in np.flatnonzero(tf.kind == "parent"):
        kids = tf.children(p)
        assert not (fire[:, kids].any(axis=1) & ~fire[:, p]).any()  # never without the parent
        assert fire[:, kids].sum(axis=1).max() <= 1  # mutually exclusive
    assert fire[:, tf.kind == "rare"].mean() < fire[:, tf.kind == "parent"].mean()


def test_truth_from_decoder_alignment():
    tf = make_features(4, d=32, n_parents=2, n_solo=3, n_rare=1)
    p = int(np.flatnonzero(tf.kind == "parent")[0])
    kid = int(tf.children(p)[0])
    solo = int(np.flatnonzero(tf.kind == "solo")[0])
    rng = np.random.default_rng(1)
    noise = 0.05 * rng.standard_normal((3, tf.directions.shape[1]))
    narrow = np.stack([tf.directions[p], tf.directions[solo]])  # the parent, a solo feature
    wide = tf.directions[[p, kid, solo]] + noise  # the parent, its child, the solo feature
    rel = truth.relations(
        tf, truth.assign(narrow, np.ones(2, dtype=bool), tf), truth.assign(wide, np.ones(3, dtype=bool), tf)
    )
    assert rel["strict"]["same"] == {0: [0], 1: [2]}
    assert rel["strict"]["refinements"] == {0: [1]}
    assert rel["no_counterpart"] == {"narrow": [], "wide": []}
    assert truth.expected_verdicts(rel) == {0: "one_to_one", 1: "one_to_one"}


def test_absorbed_form_only_for_a_latent_that_does_not_fire_for_the_parent_alone():
    tf = make_features(4, d=32, n_parents=2, n_solo=3, n_rare=1)
    p = int(np.flatnonzero(tf.kind == "parent")[0])
    kid = int(tf.children(p)[0])
    leaning = tf.scale[p] * tf.directions[p] + tf.scale[kid] * tf.directions[kid]  # parent + child
    decoder = np.stack([leaning, leaning])
    _, mag = sample(tf, 4000, np.random.default_rng(0))
    on_child = mag[:, kid] > 0
    # latent 0 fires on every example of the parent (its decoder leans to the child);
    # latent 1 fires only for the child, in place of the parent (absorption)
    acts = [np.stack([mag[:, p] > 0, on_child], axis=1).astype(np.float32)]
    rates = truth.parent_alone_rates(acts, mag, tf)
    assert rates[0, p] == 1.0 and rates[1, p] == 0.0
    ids, _ = truth.assign(decoder, np.ones(2, dtype=bool), tf, rates)
    assert ids.tolist() == [p, kid]
    assert truth.assign(decoder, np.ones(2, dtype=bool), tf)[0].tolist() == [kid, kid]  # without rates
