"""Model-wide alignment of a pair: who has a counterpart, splits, mixtures, unique features.

Computed once per pair (seconds: block-wise over the all-pairs statistics, plus one
decomposition per narrow feature) and cached beside the pair as
`cache/alignment-v3.json` (checked before it is trusted: `matcher.alignment_cache`); later
loads read the cache.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from crossmodel_matcher.matcher.alignment_cache import CACHE_NAME, read_cache, write_cache
from crossmodel_matcher.matcher.null import best_of_n, cofire_p_values
from crossmodel_matcher.matcher.relate import LINKED_CODES
from crossmodel_matcher.matcher.relations import (
    SAME,
    eligible,
    mass_containment,
    relation_codes,
    relation_pool,
    shares_tokens,
)
from crossmodel_matcher.progress import progress_bar
from crossmodel_matcher.rules import CHANCE_ALPHA, DEFAULT_MAX_PARTS, FEATURE_BLOCK, RELATION_POOL_SIZE
from crossmodel_matcher.schemas import AlignmentSummary, DecompositionReport, SideAlignment
from crossmodel_matcher.tables import PairTables

Decompose = Callable[[str, int, int], DecompositionReport]
"""(model, feature, max_parts) -> that feature's decomposition."""

log = logging.getLogger(__name__)


def counterpart_flags(pair: PairTables, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Per source feature: has a counterpart above chance; has a `same` one (vectorised).

    The same rule as `evidence.has_counterpart` (relations.py over each feature's relation
    pool), from block-wise statistics."""
    src, tgt = pair.model(source), pair.other(source)
    n = pair.n_aligned
    has = np.zeros(src.n_features, dtype=bool)
    same = np.zeros(src.n_features, dtype=bool)
    if not pair.has_activations:
        return has, same
    first = pair.models[0].name == source
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    mean_t = tgt.col_sum / n
    sd_t = np.sqrt(np.maximum(tgt.col_sumsq / n - mean_t**2, 0.0))
    for lo in range(0, src.n_features, FEATURE_BLOCK):
        hi = min(src.n_features, lo + FEATURE_BLOCK)
        if first:
            sab = np.asarray(pair.cross_sum_prod[lo:hi], dtype=np.float64)
            cof = np.asarray(pair.cross_cofire[lo:hi], dtype=np.float64)
        else:
            sab = np.asarray(pair.cross_sum_prod[:, lo:hi], dtype=np.float64).T
            cof = np.asarray(pair.cross_cofire[:, lo:hi], dtype=np.float64).T
        mean_s = src.col_sum[lo:hi] / n
        sd_s = np.sqrt(np.maximum(src.col_sumsq[lo:hi] / n - mean_s**2, 0.0))
        denom = sd_s[:, None] * sd_t[None, :]
        corr = np.divide(sab / n - mean_s[:, None] * mean_t[None, :], denom,
                         out=np.zeros_like(sab), where=denom > 1e-12)
        t_s = cof / np.maximum(src.col_nnz[lo:hi, None], 1)
        s_t = cof / np.maximum(tgt.col_nnz[None, :], 1)
        rows, cols = _candidates(src, tgt, lo, corr, t_s, s_t, cof, n)
        found.append((lo + rows, cols, corr[rows, cols]))
    f_ids = np.concatenate([x[0] for x in found]) if found else np.zeros(0, dtype=np.int64)
    g_ids = np.concatenate([x[1] for x in found]) if found else np.zeros(0, dtype=np.int64)
    corr_fg = np.concatenate([x[2] for x in found]) if found else np.zeros(0)
    mass_ts, mass_st = _pair_masses(pair, src, tgt, f_ids, g_ids)
    wov = _pair_overlap(src, tgt, f_ids, g_ids)
    ok = np.ones(len(f_ids), dtype=bool)  # candidates are eligible and above chance
    codes = relation_codes(corr_fg, mass_ts, mass_st, ok, ok, shares_tokens(wov))
    has[f_ids[np.isin(codes, LINKED_CODES)]] = True
    same[f_ids[codes == SAME]] = True
    return has, same


def _candidates(src, tgt, lo, corr, t_s, s_t, cof, n) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of a block's candidates that may be linked: in the feature's relation
    pool (relations.relation_pool) and above chance; others cannot be linked."""
    elig = eligible(corr, t_s, s_t) & ~src.dead[lo : lo + len(corr), None]
    rows, cols = np.nonzero(elig)
    if len(rows) == 0:
        return rows, cols
    p = best_of_n(cofire_p_values(cof[rows, cols], src.col_nnz[lo + rows], tgt.col_nnz[cols], n), tgt.n_features)
    keep = p < CHANCE_ALPHA
    counts = np.bincount(rows, minlength=len(corr))
    for r in np.flatnonzero(counts > RELATION_POOL_SIZE):  # the pool keeps the most contained
        at = rows == r
        keep[at] &= np.isin(cols[at], relation_pool(corr[r], t_s[r], s_t[r]))
    return rows[keep], cols[keep]


def _pair_masses(pair: PairTables, src, tgt, f_ids, g_ids) -> tuple[np.ndarray, np.ndarray]:
    """Mass containment (target given source, source given target) of (f, g) pairs, one
    column read per feature of the smaller model."""
    ts, st = np.zeros(len(f_ids)), np.zeros(len(f_ids))
    by_src = src.n_features <= tgt.n_features
    key, other = (f_ids, g_ids) if by_src else (g_ids, f_ids)
    one, many = (src, tgt) if by_src else (tgt, src)
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for grp in np.split(order, bounds) if len(order) else []:
        idx, val = one.column(int(key[grp[0]]))
        a, b = mass_containment(idx, val, pair.n_aligned, many.act_indptr, many.act_indices,
                                many.act_data, other[grp])
        ts[grp], st[grp] = (a, b) if by_src else (b, a)
    return ts, st


def _pair_overlap(src, tgt, f_ids, g_ids, chunk: int = 4096) -> np.ndarray:
    """Weighted token overlap sum(min)/sum(max) of (f, g) pairs."""
    out = np.zeros(len(f_ids))
    for lo in range(0, len(f_ids), chunk):
        ws = np.asarray(src.token_weights[f_ids[lo : lo + chunk]], dtype=np.float64)
        wt = np.asarray(tgt.token_weights[g_ids[lo : lo + chunk]], dtype=np.float64)
        mins, maxs = np.minimum(ws, wt).sum(axis=1), np.maximum(ws, wt).sum(axis=1)
        out[lo : lo + chunk] = np.divide(mins, maxs, out=np.zeros(len(mins)), where=maxs > 0)
    return out


class Alignment:
    """The cached alignment: decompositions of narrow features and per-feature flags."""

    def __init__(self, data: dict):
        self.data = data
        self.narrow = data["narrow_model"]
        self.verdicts = {int(k): v for k, v in data["narrow_verdicts"].items()}
        self.parts = {int(k): set(v) for k, v in data["narrow_parts"].items()}
        self.has_counterpart = {m: np.array(v, dtype=bool) for m, v in data["has_counterpart"].items()}

    def in_polysemantic(self, source: str, feature: int, target: int) -> bool:
        """Whether (source feature, target) is a polysemantic narrow feature and one of its parts."""
        if self.narrow is None:
            return False
        narrow, wide_part = (feature, target) if source == self.narrow else (target, feature)
        return self.verdicts.get(narrow) == "polysemantic" and wide_part in self.parts.get(narrow, ())

    def summary(self) -> AlignmentSummary:
        return AlignmentSummary.model_validate(self.data["summary"])

    def unique_features(self, model: str) -> list[int]:
        """Live features of `model` with no counterpart above chance in the other model."""
        return [int(i) for i in np.flatnonzero(~self.has_counterpart[model] & ~np.array(
            self.data["dead"][model], dtype=bool))]


def _narrow_verdicts(pair: PairTables, decompose: Decompose, progress: bool):
    """The narrow model (None at equal widths) and the verdict and parts of each live feature."""
    a, b = pair.models
    narrow = a if a.n_features < b.n_features else b if b.n_features < a.n_features else None
    verdicts: dict[int, str] = {}
    parts: dict[int, list[int]] = {}
    if narrow is not None:
        live = np.flatnonzero(~narrow.dead)
        with progress_bar("[alignment] decomposing narrow features", len(live), "features", progress) as bar:
            for f in live:
                rep = decompose(narrow.name, int(f), DEFAULT_MAX_PARTS)
                verdicts[int(f)] = rep.verdict
                parts[int(f)] = rep.part_ids
                bar.update(1)
    return narrow, verdicts, parts


def compute_alignment(pair: PairTables, decompose: Decompose, progress: bool = True) -> dict:
    """Everything the alignment summary needs; a progress bar on stderr while it runs."""
    t0 = time.perf_counter()
    narrow, verdicts, parts = _narrow_verdicts(pair, decompose, progress)
    has, same, sides = {}, {}, []
    for m in pair.models:
        has[m.name], same[m.name] = counterpart_flags(pair, m.name)
    for m in pair.models:
        live = int((~m.dead).sum())
        sides.append(
            SideAlignment(
                model=m.name,
                n_features=m.n_features,
                n_live=live,
                n_dead=int(m.dead.sum()),
                n_with_counterpart=int(has[m.name].sum()),
                n_unique=int(live - has[m.name].sum()),
                share_with_same=round(float(same[m.name].sum()) / max(live, 1), 6),
                share_with_counterpart=round(float(has[m.name].sum()) / max(live, 1), 6),
            )
        )
    counts = Counter(verdicts.values())
    split_sizes = Counter(len(parts[f]) for f, v in verdicts.items() if v == "split")
    summary = AlignmentSummary(
        models=sides,
        narrow_model=None if narrow is None else narrow.name,
        verdict_counts=dict(sorted(counts.items())),
        split_size_histogram={str(k): v for k, v in sorted(split_sizes.items())},
        n_polysemantic=counts.get("polysemantic", 0),
    )
    log.info("alignment computed in %.1f s", time.perf_counter() - t0)
    return {
        "narrow_model": None if narrow is None else narrow.name,
        "narrow_verdicts": {str(k): v for k, v in verdicts.items()},
        "narrow_parts": {str(k): v for k, v in parts.items()},
        "has_counterpart": {k: v.astype(int).tolist() for k, v in has.items()},
        "dead": {m.name: m.dead.astype(int).tolist() for m in pair.models},
        "summary": summary.model_dump(mode="json"),
    }


def load_or_build(
    pair: PairTables, pair_dir: Path | None, decompose: Decompose, progress: bool = True
) -> Alignment:
    """The cached alignment of the pair at `pair_dir`; computed and cached when missing or when
    the cache fails its check (another pair's, damaged, malformed: a warning, then a rebuild)."""
    path = None if pair_dir is None else Path(pair_dir) / CACHE_NAME
    if path is not None and path.is_file():
        data, problem = read_cache(path, pair)
        if data is not None:
            return Alignment(data)
        log.warning("alignment cache %s fails its check (%s); rebuilding it", path, problem)
    data = compute_alignment(pair, decompose, progress)
    if path is not None:
        try:
            write_cache(path, data, pair.fingerprint)
        except OSError as exc:
            log.warning("could not cache the alignment at %s (%s); kept in memory", path, exc)
    return Alignment(data)
