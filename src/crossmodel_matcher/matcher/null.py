"""The null model of a loaded pair: what scores random, non-corresponding pairs reach.

Two parts, built once when a pair is loaded (a fraction of a second):

- pairwise nulls: every signal (match score, token Jaccard, weighted overlap, correlation,
  containment, decoder cosine) over random (source, target) pairs, so a match reports the
  percentile of its score among random pairs;
- the best-of-N test: a query looks at every candidate, so a match must beat the best that
  N random candidates reach. With activations this is exact enough to be cheap: under
  independence the co-fire count of two features is Poisson with mean n_s * n_t / n, and the
  p-value of the observed count is corrected for N candidates (Sidak). Without activations
  the empirical tail of the pairwise weighted-overlap null is used the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crossmodel_matcher.matcher import cache_files
from crossmodel_matcher.matcher.candidates import CandidateScores, score_candidates
from crossmodel_matcher.rules import CHANCE_ALPHA, NULL_SAMPLES, NULL_SEED, NULL_SOURCES  # noqa: F401
from crossmodel_matcher.tables import ModelTables, PairTables

SIGNALS = ("match_score", "jaccard", "weighted_overlap", "correlation", "containment", "cosine")
CACHE_NAME = "cache/null-v1.npz"
"""Beside the pair: the sorted null values, and one probe per direction to check them against."""
log = logging.getLogger(__name__)


@dataclass
class DirectionNull:
    """Null distributions for queries from one model into the other."""

    source: str
    target: str
    n_candidates: int
    sorted_values: dict[str, np.ndarray] = field(default_factory=dict)

    def percentile(self, signal: str, value: float | None) -> float | None:
        """Share of random pairs scoring strictly below `value` (0-100)."""
        arr = self.sorted_values.get(signal)
        if arr is None or value is None or len(arr) == 0:
            return None
        return float(100.0 * np.searchsorted(arr, value, side="left") / len(arr))

    def tail_p(self, signal: str, values: np.ndarray) -> np.ndarray:
        """Empirical P(random pair >= value) of each value, never below 1 / (samples + 1)."""
        arr = self.sorted_values[signal]
        above = len(arr) - np.searchsorted(arr, np.asarray(values, dtype=np.float64), side="left")
        return (above + 1) / (len(arr) + 1)


def best_of_n(p: np.ndarray | float, n: int) -> np.ndarray:
    """Sidak: chance that the best of n independent random candidates does at least as well."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return -np.expm1(n * np.log1p(-np.minimum(p, 1 - 1e-16)))


def cofire_p_values(cofire: np.ndarray, n_source: float, n_target: np.ndarray, n: int) -> np.ndarray:
    """P(co-fire count >= observed) for independent features (Poisson, mean n_s n_t / n)."""
    from scipy.special import pdtrc  # imported on first use: keeps the server start fast

    lam = np.maximum(n_source * np.asarray(n_target, dtype=np.float64) / max(n, 1), 1e-12)
    cofire, lam = np.broadcast_arrays(np.asarray(cofire, dtype=np.float64), lam)
    out = np.ones(lam.shape)
    fired = cofire > 0  # only these can beat chance; the rest keep p = 1
    out[fired] = pdtrc(cofire[fired] - 1, lam[fired])
    return out


class NullModel:
    """Per-direction null distributions of a pair, and the above-chance test."""

    def __init__(self, pair: PairTables, cache: Path | None = None):
        """Build the nulls, or read them from `cache` when its probes still score the same."""
        self.pair = pair
        self.directions: dict[str, DirectionNull] = {}
        self._probes: dict[str, dict[str, np.ndarray]] = {}
        if cache is not None and self._read(Path(cache)):
            return
        rng = np.random.default_rng(NULL_SEED)
        for src, tgt in (pair.models, pair.models[::-1]):
            self.directions[src.name] = self._build(src, tgt, rng)
        if cache is not None:
            cache_files.write(Path(cache), self.arrays(), self.pair.fingerprint)

    def _build(self, src: ModelTables, tgt: ModelTables, rng) -> DirectionNull:
        live = np.flatnonzero(~src.dead)
        out = DirectionNull(src.name, tgt.name, tgt.n_features)
        if len(live) == 0:
            return out
        picks = rng.choice(live, size=min(NULL_SOURCES, len(live)), replace=False)
        per = max(1, NULL_SAMPLES // len(picks))
        values: dict[str, list[np.ndarray]] = {s: [] for s in SIGNALS}
        for f in picks:
            targets = rng.choice(tgt.n_features, size=min(per, tgt.n_features), replace=False)
            row = _signals(score_candidates(self.pair, src, int(f), targets))
            for k, v in row.items():
                values[k].append(v)
            self._probes.setdefault(src.name, {"feature": np.array([f]), "targets": targets, **row})
        out.sorted_values = {k: np.sort(np.concatenate(v)) for k, v in values.items() if v}
        return out

    # ---- the cache beside the pair ------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """Sorted values and probes, as cached beside the pair."""
        arrays = {}
        for name, d in self.directions.items():
            arrays.update({f"{name}/sorted/{k}": v for k, v in d.sorted_values.items()})
            arrays.update({f"{name}/probe/{k}": v for k, v in self._probes.get(name, {}).items()})
        return arrays

    def _read(self, path: Path) -> bool:
        """Load the cached nulls if each direction's probe still scores identically."""
        arrays = cache_files.read(path, self.pair.fingerprint)
        if arrays is None:
            return False
        for src, tgt in (self.pair.models, self.pair.models[::-1]):
            probe = {k.split("/")[-1]: v for k, v in arrays.items() if k.startswith(f"{src.name}/probe/")}
            if probe:
                got = _signals(score_candidates(self.pair, src, int(probe["feature"][0]), probe["targets"]))
                if set(got) != set(probe) - {"feature", "targets"} or not all(
                    np.array_equal(v, probe[k]) for k, v in got.items()
                ):
                    log.info("null cache %s no longer matches the scores; rebuilding", path)
                    self.directions.clear()
                    return False
            d = DirectionNull(src.name, tgt.name, tgt.n_features)
            prefix = f"{src.name}/sorted/"
            d.sorted_values = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            self.directions[src.name] = d
        return True

    def direction(self, source: str) -> DirectionNull:
        return self.directions[source]

    def chance_p(
        self, source: ModelTables, feature: int, cs: CandidateScores, idx: np.ndarray | None = None
    ) -> np.ndarray:
        """Best-of-N p-values of candidates `idx`, all by default (N = all of the other model)."""
        d = self.directions[source.name]
        idx = np.arange(len(cs.match)) if idx is None else np.asarray(idx)
        if cs.cofire is not None:
            targets = idx if cs.target_ids is None else cs.target_ids[idx]
            p = cofire_p_values(
                cs.cofire[idx], float(source.col_nnz[feature]),
                self.pair.other(source.name).col_nnz[targets], self.pair.n_aligned,
            )
            # Co-firing that is not even a positive correlation is no evidence of a match.
            p = np.where(cs.correlation[idx] > 0, p, 1.0)
        else:
            p = d.tail_p("weighted_overlap", cs.weighted_overlap[idx])
        return best_of_n(p, d.n_candidates)


def _signals(cs: CandidateScores) -> dict[str, np.ndarray]:
    """The null's signals from one row of candidate scores."""
    out = {"match_score": cs.match, "jaccard": cs.jaccard, "weighted_overlap": cs.weighted_overlap}
    if cs.correlation is not None:
        out["correlation"] = cs.correlation
        out["containment"] = np.maximum(cs.target_given_source, cs.source_given_target)
    if cs.cosine is not None:
        out["cosine"] = cs.cosine
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
