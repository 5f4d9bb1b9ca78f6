"""Shared fixtures: a tiny pair whose scores are worked out by hand, and the demo pair."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_source import build_pair, open_pair
from crossmodel_matcher.store.derive import TokenRows
from crossmodel_matcher.store.sources import ModelSource

TINY_VOCAB = ["<PAD>", "a", "b", "c", "d", "e", "w1", "w2"]
# Ten shared examples e0..e9 (tokens by name), plus one example only each model saw.
TINY_EXAMPLES = {
    "e0": "a b w1", "e1": "a c w1", "e2": "b c w2", "e3": "d e w2", "e4": "a b c w1",
    "e5": "d w2", "e6": "e w1", "e7": "a w2", "e8": "b d w1", "e9": "c e w2",
    "only_narrow": "a e w1", "only_wide": "b e w2",
}
# Activations over e0..e9 (columns = features).
TINY_NARROW = {
    0: [3, 2, 0, 0, 1, 0, 0, 1, 0, 0],  # the "a" feature
    1: [0, 1, 0, 2, 0, 1, 0, 0, 1, 0],  # the "d" feature, split in the wide model
    2: [0] * 10,  # dead
}
TINY_WIDE = {
    0: [2, 1, 0, 0, 1, 0, 0, 1, 0, 0],  # same as narrow 0
    1: [0, 0, 0, 3, 0, 2, 0, 0, 0, 0],  # child of narrow 1
    2: [0, 0, 0, 0, 0, 0, 0, 0, 1, 0],  # another child of narrow 1
    3: [0, 0, 1, 0, 0, 0, 1, 0, 0, 1],  # unrelated to anything narrow
    4: [0] * 10,  # dead
}


TINY_COPIES = 30
"""Each example is repeated this often (keys e3#0 .. e3#29): every ratio, correlation and R^2
is that of the ten examples above, while counts are large enough to beat chance."""


def tiny_source(name: str, columns: dict[int, list[float]], extra: str, reverse: bool) -> ModelSource:
    """One tiny model; `reverse` stores its rows in another order (alignment is by key)."""
    base = [f"e{i}" for i in range(10)]
    keys = [f"{k}#{c}" for c in range(TINY_COPIES) for k in base] + [extra]
    n = len(keys)
    dense = np.zeros((n, len(columns)), dtype=np.float32)
    for j, col in columns.items():
        dense[: n - 1, j] = np.tile(col, TINY_COPIES)
    dense[n - 1, 0] = 0.5  # the extra example fires feature 0 a little
    order = np.arange(n)[::-1] if reverse else np.arange(n)
    tok_id = {t: i for i, t in enumerate(TINY_VOCAB)}
    tokens = [[tok_id[t] for t in TINY_EXAMPLES[keys[i].split("#")[0]].split()] for i in order]
    return ModelSource(
        name=name,
        n_features=len(columns),
        example_keys=np.array([keys[i] for i in order]),
        example_tokens=TokenRows.from_lists(tokens),
        activations=sp.csr_matrix(dense[order]),
        labels={0: f"{name} feature zero"},
    )


def build_tiny_pair(out_dir) -> None:
    build_pair(
        TINY_VOCAB,
        tiny_source("narrow", TINY_NARROW, "only_narrow", reverse=False),
        tiny_source("wide", TINY_WIDE, "only_wide", reverse=True),
        out_dir,
        description="tiny hand-checked pair",
        progress=False,
    )


@pytest.fixture(scope="session")
def tiny_pair_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "pair"
    build_tiny_pair(out)
    return out


@pytest.fixture(scope="session")
def sampled_pair_dir(tmp_path_factory):
    """A small pair built through the streamed path (SplatNLP zarr stores) keeping a sample:
    act_* hold 50 of the aligned examples, aligned_{count,sum,sumsq} the moments over all."""
    from crossmodel_matcher.store.limits import BuildLimits
    from tests.test_build_fixtures import SHARED_VOCAB
    from tests.test_build_scale import _streams
    from tests.test_build_streaming import _sources

    root = tmp_path_factory.mktemp("sampled")
    limits = BuildLimits(sample_examples=50)
    return build_pair(SHARED_VOCAB, *_sources(*_streams(root)), root / "pair", progress=False, limits=limits)


@pytest.fixture(scope="session")
def tiny(tiny_pair_dir) -> Matcher:
    return open_pair(tiny_pair_dir)


@pytest.fixture(scope="session")
def demo_pair_dir():
    """The full-size demo pair (built into the cache on first use, about a minute)."""
    from crossmodel_matcher.demo import ensure_demo_pair

    return ensure_demo_pair(progress=False)


@pytest.fixture(scope="session")
def demo(demo_pair_dir) -> Matcher:
    return open_pair(demo_pair_dir)
