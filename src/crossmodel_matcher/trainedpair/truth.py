"""Ground truth of a trained pair from decoder alignment to the true features.

Each live latent is assigned the true feature its decoder direction is closest to (cosine),
where a child's direction also counts in its absorbed form (parent + child, the direction a
latent learns when it fires for the child in place of the parent) -- for a latent that does
fire in place of the parent only: one that fires on most examples where the parent is active
without any child (`ABSORBED_MAX_PARENT_ALONE`) is the parent's latent, its decoder merely
leaning towards a frequent child (common in L1-ReLU SAEs), and is compared with the plain
directions. Two tiers: strict (cosine >= 0.9) and loose (>= 0.7). From the assignments:
- same pairs: a narrow and a wide latent assigned the same true feature;
- refinements of a narrow latent that carries a parent: the wide latents assigned its
  children;
- no counterpart: a latent whose true feature (and its parent / children) has no latent on
  the other side.
"""

from __future__ import annotations

import numpy as np

from crossmodel_matcher.trainedpair.data import TrueFeatures

TIERS = {"strict": 0.9, "loose": 0.7}
ABSORBED_MAX_PARENT_ALONE = 0.5
"""A latent firing on at least this share of its parent-alone examples is not an absorbed child."""


def parent_alone_rates(acts: list[np.ndarray], mag: np.ndarray, tf: TrueFeatures) -> np.ndarray:
    """[F, T]: each latent's firing rate on the examples where parent t is active and none of
    its children is (0 in columns that are not parents). `acts`: row blocks of [n, F]."""
    fire = mag > 0
    alone = np.zeros(fire.shape, dtype=np.float32)
    for p in np.flatnonzero(tf.kind == "parent"):
        alone[:, p] = fire[:, p] & ~fire[:, tf.children(p)].any(axis=1)
    hits = np.zeros((acts[0].shape[1], tf.n))
    row = 0
    for block in acts:
        hits += (block > 0).astype(np.float32).T @ alone[row : row + len(block)]
        row += len(block)
    return hits / np.maximum(alone.sum(axis=0), 1.0)[None, :]


def assign(
    decoder: np.ndarray, live: np.ndarray, tf: TrueFeatures, alone_rates: np.ndarray | None = None,
    max_alone: float = ABSORBED_MAX_PARENT_ALONE,
) -> tuple[np.ndarray, np.ndarray]:
    """Per latent: the true feature id it aligns with (-1 dead) and the cosine.

    `alone_rates` (parent_alone_rates): a latent firing on >= `max_alone` of a parent's
    parent-alone examples takes no absorbed form of its children; without the rates every
    latent may take one (the truth of trained pairs of version 1)."""
    dec = decoder / np.maximum(np.linalg.norm(decoder, axis=1, keepdims=True), 1e-8)
    cos = dec @ tf.directions.T  # [F, T]
    kids = np.flatnonzero(tf.kind == "child")
    par = tf.parent[kids]
    absorbed = tf.scale[par, None] * tf.directions[par] + tf.scale[kids, None] * tf.directions[kids]
    absorbed /= np.linalg.norm(absorbed, axis=1, keepdims=True)
    cos_abs = dec @ absorbed.T  # [F, n_children]
    if alone_rates is not None:  # a latent that fires for the parent alone is not an absorbed child
        cos_abs = np.where(alone_rates[:, par] >= max_alone, -np.inf, cos_abs)
    best = cos.argmax(axis=1)
    best_cos = cos.max(axis=1)
    a_best = cos_abs.argmax(axis=1)
    a_cos = cos_abs.max(axis=1)
    use_abs = a_cos > best_cos
    truth = np.where(use_abs, kids[a_best], best)
    value = np.where(use_abs, a_cos, best_cos)
    truth = np.where(live, truth, -1)
    return truth, np.where(live, value, 0.0)


def _by_truth(truth: np.ndarray, cos: np.ndarray, tier: float) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for lat in np.flatnonzero((truth >= 0) & (cos >= tier)):
        out.setdefault(int(truth[lat]), []).append(int(lat))
    return out


def relations(tf: TrueFeatures, narrow: tuple, wide: tuple) -> dict:
    """Same pairs, refinements and no-counterpart latents in each tier."""
    out: dict = {}
    for tier, thr in TIERS.items():
        n_by, w_by = _by_truth(*narrow, thr), _by_truth(*wide, thr)
        same: dict[int, list[int]] = {}
        refine: dict[int, list[int]] = {}
        for t, lats in n_by.items():
            kids = [w for c in tf.children(t) for w in w_by.get(int(c), [])]
            for n in lats:
                if t in w_by:
                    same[n] = w_by[t]
                if kids:
                    refine[n] = kids
        out[tier] = {"same": same, "refinements": refine}
    loose_n, loose_w = _by_truth(*narrow, TIERS["loose"]), _by_truth(*wide, TIERS["loose"])

    def linked(t: int, other: dict[int, list[int]]) -> bool:
        related = [t, int(tf.parent[t])] + [int(c) for c in tf.children(t)]
        return any(r in other for r in related if r >= 0)

    out["no_counterpart"] = {
        "narrow": sorted(n for t, lats in loose_n.items() for n in lats if not linked(t, loose_w)),
        "wide": sorted(w for t, lats in loose_w.items() for w in lats if not linked(t, loose_n)),
    }
    return out


def expected_verdicts(rel: dict) -> dict[int, str]:
    """Expected find_decomposition verdict of strictly aligned narrow latents."""
    strict = rel["strict"]
    out: dict[int, str] = {}
    for n in strict["same"]:
        out[n] = "one_to_one"
    for n in strict["refinements"]:
        if n not in rel["loose"]["same"]:  # refined, and no whole-concept latent in either tier
            out.setdefault(n, "split")
    for n in rel["no_counterpart"]["narrow"]:
        out[n] = "no_counterpart"
    return out
