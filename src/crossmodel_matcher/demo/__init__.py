"""The embedded demo pair: two SAEs over Splatoon builds with planted ground truth.

A seeded generator draws builds (one weapon + ability tokens with cumulative rungs), defines
latent concepts as predicates over builds, and gives two SAEs features with known relations:

- narrow "full" (2,048): one-to-one, split parents, polysemantic mixtures of 2-3 unrelated
  concepts, features unique to it, dead features;
- wide "ultra" (24,576): the one-to-one partners, the refinements of every split parent
  (2-12 children partitioning it), one feature per polysemantic component, features unique
  to it (concepts no narrow feature covers), dead features.

It is made hard on purpose: magnitude noise, random spurious firings, dropout, absorption
(a split parent stays silent on some of its children's examples, so children fire without
it), low rung tokens shared by most builds, Zipf-popular weapons, dense and rare features.
Both models see overlapping but different example sets in different row orders, so they
must be aligned by example key. The activations then take the same ingestion path as real
data (`pair_source.build_pair`), and the truth is written beside the pair as `truth.json`.

Modules: builds.py (vocabulary, builds, atoms), concepts.py (concepts and activations),
planting.py (generation of the planted pair), truth.py (truth.json), session.py (the scripted
session `crossmodel-matcher demo` runs).
"""

from __future__ import annotations

from pathlib import Path

from crossmodel_matcher.demo.builds import (
    DEMO_SEED,
    DEMO_VERSION,
    FAMILIES,
    MAIN_ONLY,
    N_FULL,
    N_ULTRA,
    RUNGS,
    demo_vocab,
    generate_builds,
)
from crossmodel_matcher.demo.planting import generate
from crossmodel_matcher.demo.truth import load_truth, write_truth
from crossmodel_matcher.demo_paths import default_cache_dir, demo_pair_dir, is_built
from crossmodel_matcher.pair_source import build_pair

__all__ = [
    "DEMO_SEED", "DEMO_VERSION", "FAMILIES", "MAIN_ONLY", "N_FULL", "N_ULTRA", "RUNGS",
    "default_cache_dir", "demo_pair_dir", "demo_vocab", "ensure_demo_pair", "generate", "generate_builds", "load_truth",
]


def ensure_demo_pair(
    cache_dir: str | Path | None = None, seed: int = DEMO_SEED, progress: bool = True
) -> Path:
    """The demo pair directory, built on first use (deterministic, nothing downloaded)."""
    out = demo_pair_dir(cache_dir, seed)
    if is_built(out):
        return out
    vocab, full, ultra, truth = generate(seed)
    build_pair(
        vocab, full, ultra, out,
        description=f"Demo pair: synthetic Splatoon-build SAEs with planted truth (seed {seed})",
        progress=progress,
        extra_manifest={"demo_seed": seed, "demo_version": DEMO_VERSION},
    )
    write_truth(out, truth)
    return out
