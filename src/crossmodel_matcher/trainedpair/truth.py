"""Ground truth of a trained pair from decoder alignment to the true features.

Each live latent is assigned the true feature its decoder direction is closest to (cosine),
where a child's direction also counts in its absorbed form (parent + child, the direction a
latent learns when it fires for the child in place of the parent). Two tiers: strict
(cosine >= 0.9) and loose (>= 0.7). From the assignments:
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


def assign(decoder: np.ndarray, live: np.ndarray, tf: TrueFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Per latent: the true feature id it aligns with (-1 dead) and the cosine."""
    dec = decoder / np.maximum(np.linalg.norm(decoder, axis=1, keepdims=True), 1e-8)
    cos = dec @ tf.directions.T  # [F, T]
    kids = np.flatnonzero(tf.kind == "child")
    par = tf.parent[kids]
    absorbed = tf.scale[par, None] * tf.directions[par] + tf.scale[kids, None] * tf.directions[kids]
    absorbed /= np.linalg.norm(absorbed, axis=1, keepdims=True)
    cos_abs = dec @ absorbed.T  # [F, n_children]
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
