"""A trained validation pair: two SAEs of different widths trained on synthetic data.

Not the tests' fixture: a benchmark (`benchmarks/bench_trained.py`). See `build.py`.
"""

from crossmodel_matcher.demo.truth import load_truth
from crossmodel_matcher.trainedpair.build import PairSpec, ensure_trained_pair

__all__ = ["PairSpec", "ensure_trained_pair", "load_truth"]
