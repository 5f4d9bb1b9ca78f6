"""Synthetic data with known true features: superposition, a hierarchy, heavy-tailed rates.

True features are unit directions in a d-dimensional space (more features than dimensions).
Three kinds:
- parents, each with 2-7 children: a child fires only with its parent and at most one child
  of a parent fires at a time (mutually exclusive); the parent often fires alone;
- standalone features with heavy-tailed (Zipf-like) firing rates, from common to rare;
- rare features (low rate, small magnitude) that only a wide SAE can afford to represent.
Each firing has a magnitude drawn around the feature's own scale (varied across features).
An example's "tokens" are the names of its active true features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TrueFeatures:
    """The ground truth of the synthetic data."""

    directions: np.ndarray  # float32 [T, d], unit rows
    names: list[str]  # token name of each true feature
    kind: np.ndarray  # "parent" | "child" | "solo" | "rare"
    parent: np.ndarray  # int [T]: parent id of a child, -1 otherwise
    rate: np.ndarray  # float [T]: P(fires) (children: P(fires | parent fires))
    scale: np.ndarray  # float [T]: mean magnitude when firing
    seed: int

    @property
    def n(self) -> int:
        return len(self.names)

    def children(self, p: int) -> np.ndarray:
        return np.flatnonzero(self.parent == p)


def make_features(
    seed: int, d: int = 96, n_parents: int = 80, n_solo: int = 360, n_rare: int = 240
) -> TrueFeatures:
    """Draw the true features (directions, hierarchy, rates, magnitudes) from a seed."""
    rng = np.random.default_rng(seed)
    names, kind, parent, rate, scale = [], [], [], [], []
    for p in range(n_parents):
        pid = len(names)
        names.append(f"p{p:03d}")
        kind.append("parent")
        parent.append(-1)
        rate.append(float(np.clip(0.12 * (p + 1) ** -0.6, 0.008, 0.12)))
        scale.append(float(rng.uniform(1.0, 3.0)))
        k = int(rng.integers(2, 8))
        share = rng.dirichlet(np.full(k, 2.0)) * rng.uniform(0.55, 0.85)  # P(a child | parent)
        for c in range(k):
            names.append(f"p{p:03d}c{c}")
            kind.append("child")
            parent.append(pid)
            rate.append(float(share[c]))
            scale.append(float(rng.uniform(1.0, 3.0)))
    for s in range(n_solo):
        names.append(f"s{s:03d}")
        kind.append("solo")
        parent.append(-1)
        rate.append(float(np.clip(0.08 * (s + 1) ** -0.8, 0.002, 0.08)))
        scale.append(float(rng.uniform(0.8, 3.0)))
    for r in range(n_rare):
        names.append(f"r{r:03d}")
        kind.append("rare")
        parent.append(-1)
        rate.append(float(rng.uniform(0.001, 0.004)))
        scale.append(float(rng.uniform(0.6, 1.5)))
    dirs = rng.standard_normal((len(names), d)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    order = rng.permutation(n_solo) + len(names) - n_solo - n_rare  # rates not tied to index order
    rate_arr = np.array(rate)
    rate_arr[len(names) - n_solo - n_rare : len(names) - n_rare] = rate_arr[order]
    return TrueFeatures(
        directions=dirs, names=names, kind=np.array(kind), parent=np.array(parent),
        rate=rate_arr, scale=np.array(scale), seed=seed,
    )


def sample(tf: TrueFeatures, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n examples: activations x [n, d] and true feature magnitudes [n, T] (0 = inactive)."""
    top = np.flatnonzero(tf.kind != "child")
    fire = np.zeros((n, tf.n), dtype=bool)
    fire[:, top] = rng.random((n, len(top))) < tf.rate[top][None, :]
    parents = np.flatnonzero(tf.kind == "parent")
    kids = [tf.children(p) for p in parents]
    width = max(len(k) for k in kids)
    cum = np.ones((len(parents), width))  # cumulative P(child c | parent); 1 after the last
    for i, k in enumerate(kids):
        cum[i, : len(k)] = np.cumsum(tf.rate[k])
    ex, pi = np.nonzero(fire[:, parents])
    pick = (rng.random(len(ex))[:, None] >= cum[pi]).sum(axis=1)  # index of the child, or none
    lens = np.array([len(k) for k in kids])
    has = pick < lens[pi]
    first = np.array([k[0] for k in kids])  # children of a parent are contiguous ids
    fire[ex[has], first[pi[has]] + pick[has]] = True
    rows, cols = np.nonzero(fire)
    mag = np.zeros((n, tf.n), dtype=np.float32)
    mag[rows, cols] = tf.scale[cols] * rng.lognormal(0.0, 0.3, size=len(rows))
    x = mag @ tf.directions + 0.02 * rng.standard_normal((n, tf.directions.shape[1])).astype(np.float32)
    return x.astype(np.float32), mag
