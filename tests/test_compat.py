"""The original skill's Python usage, run as written on `crossmodel_matcher.compat`.

Seed tests (marked `demo`) take each ```python block of the original SKILL.md, change only its
two import lines and run it against the full-size demo pair, checking that what it prints is
real. API tests run on a tiny pair built here through the core's own ingestion path.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from crossmodel_matcher import compat
from crossmodel_matcher.compat import FeatureMatcher, MatchingReport, load_context
from crossmodel_matcher.matcher import MatcherInputError
from crossmodel_matcher.matcher.candidates import CandidateScores
from crossmodel_matcher.pair_choice import PAIR_ENV
from crossmodel_matcher.pair_source import build_pair, open_pair
from crossmodel_matcher.schemas import (
    OVERLAP_MODERATE,
    OVERLAP_STRONG,
    SCORE_GOOD,
    SCORE_MODERATE,
    SCORE_STRONG,
)
from crossmodel_matcher.store.derive import TokenRows, top_examples_from_activations
from crossmodel_matcher.store.sources import ModelSource

REPO = Path(__file__).resolve().parents[1]
VENDORED_SEED = Path(__file__).parent / "data" / "seed_skill.md"
SHARED_SEED_DIRS = [REPO / "shared" / "seed", REPO.parent / "shared" / "seed"]
PORTED_IMPORTS = {
    "from splatnlp.mechinterp.analysis import FeatureMatcher":
        "from crossmodel_matcher.compat import FeatureMatcher",
    "from splatnlp.mechinterp.skill_helpers import load_context":
        "from crossmodel_matcher.compat import load_context",
}
# Feature ids the seed's examples use, with the model each one belongs to.
SEED_FEATURES = {("ultra", 18712), ("full", 1024), ("full", 512)}


# ---- the seed document ---------------------------------------------------------------------
def shared_seed_text() -> str | None:
    for d in SHARED_SEED_DIRS:
        files = sorted(d.glob("*")) if d.is_dir() else []
        if files:
            return files[0].read_text()
    return None


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def seed_blocks(text: str) -> list[tuple[str, str]]:
    """(slug of the heading above it, code) of each ```python block, in document order."""
    blocks, heading, code = [], "top", None
    for line in text.splitlines():
        if code is None:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            elif line.strip() == "```python":
                code = []
        elif line.strip() == "```":
            slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
            blocks.append((slug, "\n".join(code) + "\n"))
            code = None
        else:
            code.append(line)
    return blocks


def port(code: str) -> str:
    """The block with its splatnlp imports pointed at crossmodel_matcher.compat; nothing else."""
    lines = [PORTED_IMPORTS.get(line.strip(), line) for line in code.splitlines()]
    return "\n".join(lines) + "\n"


BLOCKS = seed_blocks(VENDORED_SEED.read_text())


def test_vendored_seed_is_the_shared_seed():
    """tests/data/seed_skill.md is the shared seed with its line breaks restored, nothing more."""
    shared = shared_seed_text()
    if shared is None:
        pytest.skip("shared/seed is not present; the vendored copy stands alone")
    assert normalize(VENDORED_SEED.read_text()) == normalize(shared)


def test_seed_blocks_port_by_import_lines_only():
    assert [slug for slug, _ in BLOCKS] == [
        "programmatic", "detailed-comparison", "example-finding-ultra-decomposition"
    ]
    for _, code in BLOCKS:
        ported = port(code)
        ast.parse(ported)
        assert "splatnlp" not in ported
        changed = [(a, b) for a, b in zip(code.splitlines(), ported.splitlines()) if a != b]
        assert all(a.strip() in PORTED_IMPORTS for a, _ in changed)
    assert sum(code.count("splatnlp") for _, code in BLOCKS) == len(PORTED_IMPORTS)


def test_seed_feature_ids_are_the_ones_checked():
    code = "".join(c for _, c in BLOCKS)
    ids = {int(x) for x in re.findall(r"(?:source_feature|source_fid|target_fid)=(\d+)", code)}
    assert ids == {f for _, f in SEED_FEATURES}


def test_import_crossmodel_matcher_stays_light():
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys, crossmodel_matcher; print('crossmodel_matcher.compat' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "False"


SCORE_FIELDS = [f for f in dataclasses.fields(CandidateScores) if f.name not in ("source", "feature", "target_ids", "relations")]
"""The per-candidate arrays of CandidateScores (not its bookkeeping)."""


# ---- a tiny pair with planted relations ----------------------------------------------------
N_EXAMPLES = 300
N_GROUPS = 8
VOCAB = ["<PAD>", "<NULL>"] + [f"g{g}_t{i}" for g in range(N_GROUPS) for i in range(4)]
N_FULL, N_ULTRA = 6, 40
# Planted: full 0 = ultra 5 (one-to-one), full 1 splits into ultra 9, 10, full 2 fires on two
# unrelated groups (ultra 12, 13 one each), full 3 is unique, full 4 dead, full 5 = ultra 20.
ONE_TO_ONE = {0: 5, 5: 20}
SPLIT = {1: (9, 10)}
POLY = {2: (12, 13)}


def tiny_sources(seed: int, with_activations: bool = True) -> tuple[ModelSource, ModelSource]:
    rng = np.random.default_rng(seed)
    group = rng.integers(N_GROUPS, size=N_EXAMPLES)
    hidden = rng.random(N_EXAMPLES) < 0.5
    rows = []
    for g in group:
        toks = {2 + 4 * int(g) + int(i) for i in rng.choice(4, size=3, replace=False)}
        toks.add(int(rng.integers(2, len(VOCAB))))
        rows.append(sorted(toks))
    tokens = TokenRows.from_lists(rows)
    full = np.zeros((N_EXAMPLES, N_FULL), dtype=np.float32)
    ultra = np.zeros((N_EXAMPLES, N_ULTRA), dtype=np.float32)

    def fire(acts: np.ndarray, col: int, mask: np.ndarray) -> None:
        acts[mask, col] = rng.uniform(0.5, 2.0, size=int(mask.sum()))

    fire(full, 0, group == 0)
    fire(ultra, 5, group == 0)
    fire(full, 1, group == 1)
    fire(ultra, 9, (group == 1) & hidden)
    fire(ultra, 10, (group == 1) & ~hidden)
    fire(full, 2, (group == 2) | (group == 3))
    fire(ultra, 12, group == 2)
    fire(ultra, 13, group == 3)
    fire(full, 3, group == 4)
    fire(full, 5, group == 5)
    fire(ultra, 20, group == 5)
    planted = {5, 9, 10, 12, 13, 20}
    for u in range(N_ULTRA):
        if u not in planted and u % 7 != 6:  # every 7th left dead
            fire(ultra, u, rng.random(N_EXAMPLES) < 0.06)
    keys = np.array([f"ex{i:04d}" for i in range(N_EXAMPLES)])
    out = []
    for name, acts in (("full", full), ("ultra", ultra)):
        csr = sp.csr_matrix(acts)
        if with_activations:
            out.append(ModelSource(name, acts.shape[1], keys, tokens, csr, origin="tiny"))
        else:
            top = top_examples_from_activations(csr, tokens)
            out.append(ModelSource(name, acts.shape[1], top_examples=top, origin="tiny"))
    return out[0], out[1]


def build_tiny(out: Path, seed: int = 3, with_activations: bool = True) -> Path:
    full, ultra = tiny_sources(seed, with_activations)
    return build_pair(VOCAB, full, ultra, out, description="tiny compat pair", progress=False)


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("compat") / "pair")


@pytest.fixture(scope="module")
def tokens_pair(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("compat") / "tokens", with_activations=False)


@pytest.fixture(autouse=True)
def _no_pair_env(monkeypatch):
    """Default pair = the demo pair, whatever the caller's environment names."""
    monkeypatch.delenv(PAIR_ENV, raising=False)


def matcher_for(pair: Path, source: str) -> FeatureMatcher:
    return FeatureMatcher(load_context(source, pair))


def live(pair: Path, model: str) -> list[int]:
    tables = load_context(model, pair).tables
    return [int(f) for f in np.flatnonzero(~tables.dead)]


# ---- contexts ------------------------------------------------------------------------------
def test_contexts_of_one_pair_share_one_matcher(tiny_pair):
    full = load_context("full", tiny_pair)
    ultra = load_context("ultra", str(tiny_pair))
    assert full.matcher is ultra.matcher
    assert (full.model_type, full.n_features, ultra.n_features) == ("full", N_FULL, N_ULTRA)
    assert full.get_feature_ids() == list(range(N_FULL))
    assert full.inv_vocab[full.vocab["g3_t1"]] == "g3_t1"
    fm = FeatureMatcher(full)
    assert fm.target_ctx.model_type == "ultra" and fm.target_ctx.matcher is full.matcher
    assert FeatureMatcher(ultra).target_ctx.model_type == "full"


def test_load_context_takes_a_loaded_matcher(tiny_pair):
    m = open_pair(tiny_pair)
    ctx = load_context("ultra", m)
    assert ctx.matcher is m and ctx.pair_dir is None
    assert FeatureMatcher(ctx).target_ctx.matcher is m


def test_default_pair_follows_the_pair_variable(tiny_pair, monkeypatch):
    monkeypatch.setenv(PAIR_ENV, str(tiny_pair))
    ctx = load_context("full")
    assert ctx.pair_dir == tiny_pair.resolve()
    assert ctx.matcher is load_context("ultra", tiny_pair).matcher


def test_unknown_model_names_the_loaded_models(tiny_pair):
    with pytest.raises(MatcherInputError, match=r"unknown model 'mega'.*'full', 'ultra'"):
        load_context("mega", tiny_pair)


def test_target_must_be_the_other_model_of_the_same_pair(tiny_pair, tmp_path):
    other = build_tiny(tmp_path / "other", seed=4)
    src = load_context("full", tiny_pair)
    with pytest.raises(MatcherInputError, match="different pair"):
        FeatureMatcher(src, load_context("ultra", other))
    with pytest.raises(MatcherInputError, match="both model 'full'.*'ultra'"):
        FeatureMatcher(src, load_context("full", tiny_pair))
    with pytest.raises(TypeError, match="load_context"):
        FeatureMatcher("full")  # type: ignore[arg-type]


def test_rebuilt_pair_is_reloaded(tmp_path):
    pair = build_tiny(tmp_path / "p", seed=5)
    first = load_context("full", pair).matcher
    assert load_context("full", pair).matcher is first
    (pair / "pair.json").touch()
    os.utime(pair / "pair.json", ns=(1, 1))
    assert load_context("full", pair).matcher is not first
    compat.clear_context_cache()
    assert not compat._MATCHERS


# ---- find_matches --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "feature", "expected", "relation"),
    [("full", 0, {5}, "same"), ("full", 5, {20}, "same"), ("ultra", 5, {0}, "same"),
     ("full", 1, {9, 10}, "child"), ("ultra", 9, {1}, "parent"),
     ("full", 2, {12, 13}, "part-of-polysemantic"), ("ultra", 13, {2}, "part-of-polysemantic")],
)
def test_exhaustive_search_finds_planted_counterparts(tiny_pair, source, feature, expected, relation):
    report = matcher_for(tiny_pair, source).find_matches(source_feature=feature)
    n_target = N_ULTRA if source == "full" else N_FULL
    assert isinstance(report, MatchingReport)
    assert report.n_candidates_tested == n_target == report.n_target_features
    assert report.candidate_selection.startswith(f"all {n_target}")
    assert report.matches[0].target_feature in expected
    assert report.matches[0].relation == relation
    assert set(report.counterparts) >= expected and report.has_counterpart
    assert report.best_correlation == report.matches[0].activation_correlation > 0.5


@pytest.mark.parametrize("source", ["full", "ultra"])
@pytest.mark.parametrize("n_candidates", [1, 2, 5])
def test_prefilter_keeps_the_exhaustive_best_on_planted_features(tiny_pair, source, n_candidates):
    """One-to-one partners survive a pre-filter of 1; split children (two each) one of 2."""
    planted = {"full": [0, 5], "ultra": [5, 9, 10, 12, 13, 20]}[source]
    if n_candidates > 1 and source == "full":
        planted += [1, 2]
    fm = matcher_for(tiny_pair, source)
    for f in planted:
        best = fm.find_matches(f).matches[0].target_feature
        ids, how = fm.prefilter(f, n_candidates)
        assert best in ids.tolist(), (f, how)
        pre = fm.find_matches(f, n_candidates=n_candidates)
        assert pre.matches[0].target_feature == best
        assert pre.n_candidates_tested == n_candidates == len(ids)
        assert pre.candidate_selection.startswith(f"prefilter: {n_candidates} of ")
        assert set(pre.match_ids) <= set(ids.tolist())


def test_prefilter_selection_order_with_ties():
    """_top_n equals a full sort by (primary desc, secondary desc, id asc), ties included."""
    rng = np.random.default_rng(2)
    for _ in range(200):
        size = int(rng.integers(1, 60))
        primary = rng.integers(0, 4, size=size) / 4  # heavy ties, like zero co-firing
        secondary = rng.integers(0, 3, size=size) / 3
        n = int(rng.integers(1, size + 2))
        ids = np.arange(size)
        expected = np.sort(np.lexsort((ids, -secondary, -primary))[:n])
        np.testing.assert_array_equal(compat._top_n(primary, secondary, n), expected)


def test_n_candidates_at_or_above_the_target_count_searches_all(tiny_pair):
    fm = matcher_for(tiny_pair, "full")
    for n in (N_ULTRA, N_ULTRA + 100):
        report = fm.find_matches(1, n_candidates=n)
        assert report.n_candidates_tested == N_ULTRA
        assert report.candidate_selection.startswith("all")


@pytest.mark.parametrize("pair_name", ["tiny_pair", "tokens_pair"])
def test_subset_scores_equal_the_core_scores(pair_name, request):
    pair = request.getfixturevalue(pair_name)
    rng = np.random.default_rng(0)
    for source in ("full", "ultra"):
        fm = matcher_for(pair, source)
        src = fm.source_ctx.tables
        for f in live(pair, source)[:12]:
            full_cs = fm.matcher.candidate_scores(src, f)
            idx = np.sort(rng.choice(fm.target_ctx.n_features, size=5, replace=False))
            sub = fm.score_candidates(f, idx)
            for fld in SCORE_FIELDS:
                a, b = getattr(sub, fld.name), getattr(full_cs, fld.name)
                assert (a is None) == (b is None), fld.name
                if b is not None:
                    np.testing.assert_allclose(a, np.asarray(b)[idx], rtol=1e-12, atol=1e-12)


def test_matches_follow_the_original_rules(tiny_pair):
    fm = matcher_for(tiny_pair, "full")
    for f in live(tiny_pair, "full"):
        report = fm.find_matches(f, n_top_matches=6)
        assert 0 < len(report.matches) <= 6
        scores = [m.match_score for m in report.matches]
        assert scores == sorted(scores, reverse=True)
        assert [m.rank for m in report.matches] == list(range(1, len(report.matches) + 1))
        by_combined = fm.find_matches(f, n_top_matches=6, rank_by="combined_score")
        assert by_combined.ranked_by == "combined_score"
        combined = [m.combined_score for m in by_combined.matches]
        assert combined == sorted(combined, reverse=True)
        for m in report.matches + by_combined.matches:
            assert (m.source_feature, m.source_model, m.target_model) == (f, "full", "ultra")
            assert m.combined_score > 0  # the original kept only positive combined scores
            c, j, r = m.combined_score, m.top_token_overlap, m.activation_correlation
            assert c == pytest.approx(0.4 * j + 0.6 * r if r > 0 else j, abs=2e-6)
            band = ("Strong" if c > SCORE_STRONG else "Good" if c > SCORE_GOOD
                    else "Moderate" if c > SCORE_MODERATE else "Weak")
            assert m.notes.startswith(f"{band} match")
            ob = "strong" if j > OVERLAP_STRONG else "moderate" if j >= OVERLAP_MODERATE else "weak"
            assert m.overlap_band == ob
            assert m.evidence is not None and m.reading.startswith(f"ultra {m.target_feature}:")


def test_shared_top_tokens_are_in_both_top_sets(tiny_pair):
    fm = matcher_for(tiny_pair, "ultra")
    src, tgt = fm.source_ctx.tables, fm.target_ctx.tables
    for m in fm.find_matches(9).matches:
        tgt_set = {VOCAB[t] for t in tgt.top_token_set(m.target_feature)}
        assert sorted(m.shared_top_tokens) == sorted({VOCAB[t] for t in src.top_token_set(9)} & tgt_set)


def test_dead_source_has_no_matches(tiny_pair):
    report = matcher_for(tiny_pair, "full").find_matches(4, n_candidates=10)
    assert report.matches == [] and report.source_dead and not report.has_counterpart
    assert report.best_correlation == 0.0
    assert "never fires" in report.reading


def test_unique_source_has_no_counterpart(tiny_pair):
    report = matcher_for(tiny_pair, "full").find_matches(3)
    assert not report.has_counterpart and report.counterparts == []
    assert report.reading.startswith("No counterpart in ultra")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"source_feature": 6}, r"source_feature=6 is out of range for model 'full': valid ids are 0\.\.5"),
     ({"source_feature": -1}, "out of range"),
     ({"source_feature": "3"}, "source_feature must be an integer"),
     ({"source_feature": 1, "n_candidates": 0}, "n_candidates must be a positive integer"),
     ({"source_feature": 1, "n_candidates": True}, "n_candidates must be a positive integer"),
     ({"source_feature": 1, "n_top_matches": 0}, "n_top_matches must be a positive integer"),
     ({"source_feature": 1, "rank_by": "pagerank"}, "rank_by='pagerank' is not one of")],
)
def test_find_matches_rejects_bad_arguments(tiny_pair, kwargs, message):
    with pytest.raises(MatcherInputError, match=message):
        matcher_for(tiny_pair, "full").find_matches(**kwargs)


# ---- compare_features ----------------------------------------------------------------------
ORIGINAL_KEYS = {
    "source_feature", "source_model", "target_feature", "target_model", "shared_tokens",
    "source_only_tokens", "target_only_tokens", "jaccard_similarity",
}


def check_comparison(c: dict, fm: FeatureMatcher) -> None:
    """Original keys, token lists consistent with the top-50 sets and the Jaccard, scores in range."""
    assert ORIGINAL_KEYS <= set(c)
    src, tgt = fm.source_ctx.tables, fm.target_ctx.tables
    vocab = fm.matcher.pair.vocab
    s_set = {vocab[t] for t in src.top_token_set(c["source_feature"])}
    t_set = {vocab[t] for t in tgt.top_token_set(c["target_feature"])}
    assert all(isinstance(t, str) for k in ("shared_tokens", "source_only_tokens", "target_only_tokens")
               for t in c[k])
    assert set(c["shared_tokens"]) == s_set & t_set
    assert set(c["source_only_tokens"]) == s_set - t_set
    assert set(c["target_only_tokens"]) == t_set - s_set
    union = len(s_set | t_set)
    assert c["jaccard_similarity"] == pytest.approx(len(s_set & t_set) / union if union else 0.0, abs=1e-6)
    assert 0.0 <= c["jaccard_similarity"] <= 1.0 and 0.0 <= c["weighted_overlap"] <= 1.0
    assert -1.0 <= c["activation_correlation"] <= 1.0 and 0.0 <= c["combined_score"] <= 1.0
    for k in ("target_given_source", "source_given_target"):
        assert c[k] is None or 0.0 <= c[k] <= 1.0


def test_compare_features_keeps_the_original_keys(tiny_pair):
    fm = matcher_for(tiny_pair, "ultra")
    c = fm.compare_features(source_fid=10, target_fid=1)
    check_comparison(c, fm)
    assert (c["source_model"], c["target_model"], c["relation"]) == ("ultra", "full", "parent")
    assert c["target_given_source"] == 1.0 and c["cofire_count"] == c["evidence"]["cofire_count"] > 0
    unrelated = fm.compare_features(source_fid=10, target_fid=3)
    check_comparison(unrelated, fm)
    assert unrelated["cofire_count"] == 0 and unrelated["relation"] == "none"


def test_compare_features_names_its_own_arguments(tiny_pair):
    fm = matcher_for(tiny_pair, "ultra")
    with pytest.raises(MatcherInputError, match=r"target_fid=6 is out of range for model 'full'"):
        fm.compare_features(source_fid=1, target_fid=6)
    with pytest.raises(MatcherInputError, match=r"source_fid=40 is out of range for model 'ultra'"):
        fm.compare_features(source_fid=40, target_fid=1)


def test_tokens_only_pair(tokens_pair):
    fm = matcher_for(tokens_pair, "full")
    report = fm.find_matches(0, n_candidates=4)
    assert report.signals_used == ["tokens"]
    assert "distinctive tokens" in report.candidate_selection
    assert report.matches[0].target_feature == fm.find_matches(0).matches[0].target_feature == 5
    assert all(m.activation_correlation == 0.0 and m.evidence.activation_correlation is None
               for m in report.matches)
    c = fm.compare_features(0, 5)
    check_comparison(c, fm)
    assert c["target_given_source"] is None and c["activation_correlation"] == 0.0


# ---- the seed's code on the demo pair ------------------------------------------------------
@pytest.fixture(scope="session")
def demo_pair() -> Path:
    from crossmodel_matcher.demo import ensure_demo_pair

    return ensure_demo_pair(progress=False)


def run_block(index: int) -> tuple[dict, str]:
    """Run the seed's blocks up to `index` in one namespace; stdout of the last one."""
    ns: dict = {"__name__": "seed"}
    for _, code in BLOCKS[:index]:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(port(code), "<seed>", "exec"), ns)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(port(BLOCKS[index][1]), f"<seed:{BLOCKS[index][0]}>", "exec"), ns)
    return ns, out.getvalue()


def token_list(text: str) -> list[str]:
    value = ast.literal_eval(text)
    assert isinstance(value, list) and all(isinstance(t, str) for t in value)
    return value


def check_programmatic(ns: dict, out: str) -> None:
    report, fm = ns["report"], ns["matcher"]
    assert (report.source_model, report.target_model, report.source_feature) == ("ultra", "full", 18712)
    m = fm.matcher
    n_full = m.model("full").n_features
    lines = out.splitlines()
    assert lines[0] == f"Searched {report.n_candidates_tested} candidates" == "Searched 500 candidates"
    best = float(re.fullmatch(r"Best correlation: (-?\d\.\d{3})", lines[1]).group(1))
    assert -1.0 <= best <= 1.0 and best == pytest.approx(report.best_correlation, abs=5e-4)
    printed = re.findall(
        r"\nFull feature (\d+):\n  Token overlap: (\d\.\d{3})\n  Shared tokens: (\[.*\])\n  Notes: (.+)", out
    )
    assert 1 <= len(printed) == len(report.matches) <= 10
    cs = m.candidate_scores(m.model("ultra"), 18712)  # the core, over every candidate
    full_set = {m.pair.vocab[t] for t in m.model("ultra").top_token_set(18712)}
    for (fid, overlap, shared, notes), match in zip(printed, report.matches):
        fid = int(fid)
        assert 0 <= fid < n_full and fid == match.target_feature
        assert 0.0 <= float(overlap) <= 1.0
        assert float(overlap) == pytest.approx(float(cs.jaccard[fid]), abs=5e-4)
        tgt_set = {m.pair.vocab[t] for t in m.model("full").top_token_set(fid)}
        toks = token_list(shared)
        assert len(toks) <= 5 and set(toks) <= full_set & tgt_set
        assert notes in compat.NOTES.values() and notes == match.notes
        assert match.combined_score == pytest.approx(float(cs.combined[fid]), abs=1e-6)
    # The prefiltered search agrees with the exhaustive one at the top.
    assert report.matches[0].target_feature == fm.find_matches(18712).matches[0].target_feature


def check_detailed_comparison(ns: dict, out: str) -> None:
    c, fm = ns["comparison"], ns["matcher"]
    assert (c["source_model"], c["source_feature"], c["target_model"], c["target_feature"]) == (
        "ultra", 18712, "full", 1024
    )
    check_comparison(c, fm)
    lines = out.splitlines()
    assert len(lines) == 4
    jac = float(re.fullmatch(r"Jaccard similarity: (\d\.\d{3})", lines[0]).group(1))
    assert jac == pytest.approx(c["jaccard_similarity"], abs=5e-4)
    for line, prefix, key in zip(
        lines[1:], ("Shared tokens: ", "Ultra-only tokens: ", "Full-only tokens: "),
        ("shared_tokens", "source_only_tokens", "target_only_tokens"),
    ):
        assert line.startswith(prefix)
        assert token_list(line[len(prefix):]) == c[key][:10]


def check_decomposition_example(ns: dict, out: str) -> None:
    report, fm = ns["report"], ns["matcher"]
    assert (report.source_model, report.target_model, report.source_feature) == ("full", "ultra", 512)
    assert report.n_candidates_tested == fm.matcher.model("ultra").n_features
    assert report.source_dead == bool(fm.matcher.model("full").dead[512])
    if report.source_dead:
        assert report.matches == []  # the original kept only combined_score > 0
    flagged = len([m for m in report.matches if m.combined_score > 0.1]) > 3
    check_decomposition_output(report, out, flagged, 512)


def check_decomposition_output(report, out: str, flagged: bool, feature: int) -> None:
    if not flagged:
        assert out == ""
        return
    lines = out.splitlines()
    assert lines[:2] == [f"Full feature {feature} appears to be polysemantic", "Ultra decomposition:"]
    parts = [re.fullmatch(r"  Ultra (\d+): (\[.*\])", line) for line in lines[2:]]
    assert all(parts) and len(parts) == min(5, len(report.matches))
    for p, m in zip(parts, report.matches):
        assert int(p.group(1)) == m.target_feature < 24576
        assert token_list(p.group(2)) == m.shared_top_tokens[:3]


CHECKS = {
    "programmatic": check_programmatic,
    "detailed-comparison": check_detailed_comparison,
    "example-finding-ultra-decomposition": check_decomposition_example,
}


@pytest.mark.demo
@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[slug for slug, _ in BLOCKS])
def test_seed_python_block(demo_pair, index):
    ns, out = run_block(index)
    CHECKS[BLOCKS[index][0]](ns, out)


@pytest.mark.demo
def test_seed_feature_ids_are_valid_on_the_demo_pair(demo_pair):
    from crossmodel_matcher.demo import N_FULL as DEMO_FULL
    from crossmodel_matcher.demo import N_ULTRA as DEMO_ULTRA

    sizes = {"full": load_context("full").n_features, "ultra": load_context("ultra").n_features}
    assert sizes == {"full": DEMO_FULL, "ultra": DEMO_ULTRA} == {"full": 2048, "ultra": 24576}
    for model, feature in SEED_FEATURES:
        assert 0 <= feature < sizes[model]


@pytest.mark.demo
def test_seed_decomposition_example_on_a_planted_polysemantic_feature(demo_pair):
    """The prose example's code with 512 (dead in the demo) swapped for a planted mixture."""
    from crossmodel_matcher.demo import load_truth

    row = next(r for r in load_truth(demo_pair)["full"] if r["role"] == "polysemantic")
    code = port(BLOCKS[0][1]).split("# Load source context")[0] + port(BLOCKS[2][1]).replace(
        "512", str(row["feature"])
    )
    ns, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<seed:polysemantic>", "exec"), ns)
    report = ns["report"]
    flagged = len([m for m in report.matches if m.combined_score > 0.1]) > 3
    assert flagged
    check_decomposition_output(report, out.getvalue(), flagged, row["feature"])
    assert set(report.match_ids[:5]) & set(row["counterparts"])


@pytest.mark.demo
def test_demo_prefilter_agrees_with_exhaustive_on_planted_one_to_one(demo_pair):
    from crossmodel_matcher.demo import load_truth

    truth = load_truth(demo_pair)
    rows = [r for r in truth["full"] if r["role"] == "one_to_one"][:60]
    agree = hit = 0
    for source in ("full", "ultra"):
        fm = matcher_for(demo_pair, source)
        for r in rows:
            f, true = r["feature"], r["counterparts"][0]
            if source == "ultra":
                f, true = true, f
            exhaustive = fm.find_matches(f, n_top_matches=1).matches[0].target_feature
            pre = fm.find_matches(f, n_candidates=500, n_top_matches=1)
            assert pre.n_candidates_tested == 500
            agree += pre.matches[0].target_feature == exhaustive
            hit += pre.matches[0].target_feature == true
    assert agree >= 0.98 * 2 * len(rows) and hit >= 0.95 * 2 * len(rows)


@pytest.mark.demo
def test_demo_subset_scores_equal_the_core_scores(demo_pair):
    rng = np.random.default_rng(1)
    for source in ("full", "ultra"):
        fm = matcher_for(demo_pair, source)
        src = fm.source_ctx.tables
        for f in rng.choice(np.flatnonzero(~src.dead), size=5, replace=False).tolist():
            idx, _ = fm.prefilter(f, 300)
            sub, full_cs = fm.score_candidates(f, idx), fm.matcher.candidate_scores(src, f)
            for fld in SCORE_FIELDS:
                a, b = getattr(sub, fld.name), getattr(full_cs, fld.name)
                assert (a is None) == (b is None)
                if b is not None:
                    np.testing.assert_allclose(a, np.asarray(b)[idx], rtol=1e-12, atol=1e-12)
