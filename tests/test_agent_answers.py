"""Answers sized for agents: concise projections, the size budget, filters, batches, the small
published schemas, and the caches that make start-up and find_matches fast."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from mcp import Client

from crossmodel_matcher.answers import answer, compact_json, fit
from crossmodel_matcher.errors import MatcherInputError
from crossmodel_matcher.matcher import shortlists
from crossmodel_matcher.matcher.cache_files import write
from crossmodel_matcher.matcher.null import CACHE_NAME as NULL_CACHE
from crossmodel_matcher.matcher.pool_masses import CACHE_NAME as POOLS_CACHE
from crossmodel_matcher.matcher.relate import pool_ids
from crossmodel_matcher.matcher.relations import mass_containment
from crossmodel_matcher.matcher.shortlists import CACHE_NAME as SHORTLISTS_CACHE
from crossmodel_matcher.pair_source import open_pair
from crossmodel_matcher.rules import ANSWER_BUDGET_CHARS, MAX_TOP_N, MAX_UNIQUE_LIMIT
from crossmodel_matcher.server import create_server
from crossmodel_matcher.server.answers import ANSWERS
from tests.server_fixtures import without_timing

pytest_plugins = ["tests.server_fixtures"]  # small_matcher, small_pair_dir, anyio_backend


def _without_timing(report) -> dict:
    return without_timing(report.model_dump(mode="json"))


# ---- concise answers are projections of the reports ---------------------------------------------
def test_concise_matches_carry_the_reports_decisions(small_matcher):
    report = small_matcher.find_matches("full", 1, top_n=5)
    concise = answer(report, "concise")
    assert concise["response_format"] == "concise"
    assert [m["target_feature"] for m in concise["matches"]] == report.match_ids
    for brief, full in zip(concise["matches"], report.matches):
        assert brief["relation"] == full.evidence.relation
        assert brief["calibrated_band"] == full.evidence.calibrated_band.value
        assert brief["match_score"] == pytest.approx(full.evidence.match_score, abs=5e-4)
        assert brief["shared_tokens"] == [t.token for t in full.shared_tokens[: len(brief["shared_tokens"])]]
    assert concise["counterpart_ids"] == report.counterpart_ids
    assert concise["reading"] == report.reading
    assert len(compact_json(concise)) < len(compact_json(answer(report, "detailed"))) / 2


def test_detailed_answer_is_the_report(small_matcher):
    report = small_matcher.compare_features("full", 4, 8)
    detailed = answer(report, "detailed")
    assert detailed.pop("response_format") == "detailed"
    assert without_timing(detailed) == _without_timing(report)


def test_wide_feature_decomposition_says_parents(small_matcher):
    report = small_matcher.find_decomposition("ultra", 2)
    assert report.parent_ids == [1] and report.part_ids == [] and report.parts == []
    concise = answer(report)
    assert concise["parent_ids"] == [1] and "parts" not in concise and "part_ids" not in concise
    counts = small_matcher.find_decomposition("full", 1).evidence_record.key_metrics
    assert isinstance(counts["n_parts"], int) and isinstance(counts["n_groups"], int)


# ---- the size budget ------------------------------------------------------------------------------
def test_fit_cuts_the_largest_list_and_says_how_to_narrow():
    data = {"model": "m", "matches": [{"target_feature": i, "pad": "x" * 50} for i in range(100)]}
    cut = fit(data, budget=2_000)
    assert len(compact_json(cut)) <= 2_000
    assert cut["truncated"] is True and cut["total_items"] == 100
    assert "top_n" in cut["how_to_narrow"] and "100 matches" in cut["how_to_narrow"]
    assert cut["matches"] == data["matches"][: len(cut["matches"])]  # the first part, in order
    assert fit(data, budget=100_000) is data  # within the budget: untouched


def test_fit_keeps_a_page_consistent():
    feats = [{"feature": i, "pad": "y" * 80} for i in range(50)]
    page = {"total": 500, "offset": 100, "next_offset": 150, "feature_ids": list(range(50)), "features": feats}
    cut = fit(page, budget=1_500)
    n = len(cut["features"])
    assert 0 < n < 50 and cut["feature_ids"] == [f["feature"] for f in cut["features"]]
    assert cut["next_offset"] == 100 + n  # the next page starts where this one was cut


@pytest.mark.anyio
async def test_every_tool_at_its_maxima_stays_within_the_budget(small_matcher):
    calls = {
        "find_matches": {"model": "full", "feature": 1, "top_n": MAX_TOP_N},
        "compare_features": {"model": "ultra", "source_feature": 2, "target_features": list(range(8))},
        "find_decomposition": {"model": "full", "feature": 7, "max_parts": 24},
        "describe_feature": {"model": "ultra", "feature": 2, "n_tokens": 50},
        "list_unique_features": {"model": "ultra", "limit": MAX_UNIQUE_LIMIT},
    }
    async with Client(create_server(small_matcher)) as client:
        for tool, args in calls.items():
            for fmt in ("concise", "detailed"):
                result = await client.call_tool(tool, {**args, "response_format": fmt})
                assert not result.is_error, result.content[0].text
                assert len(compact_json(result.structured_content)) <= ANSWER_BUDGET_CHARS
                assert result.content[0].text == compact_json(result.structured_content)
                # The published (small) schema accepts every answer, as a client checks it.
                jsonschema.validate(result.structured_content, ANSWERS[tool].published_schema)


def test_published_schemas_are_small_and_typed():
    schema = ANSWERS["find_matches"].published_schema
    text = json.dumps(schema)
    assert "title" not in text and "description" not in text
    concise, detailed = schema["anyOf"]
    assert concise["properties"]["response_format"]["const"] == "concise"
    brief = concise["properties"]["matches"]["items"]["properties"]
    assert brief["calibrated_band"]["enum"] == ["strong", "moderate", "weak", "chance"]
    assert brief["target_mass_given_source"]["type"] == ["number", "null"]  # what decides relation
    assert "$ref" not in text  # definitions inline: a client's validator resolves nothing
    assert set(detailed["properties"]) >= {"matches", "match_ids", "evidence_record", "response_format"}
    models = ANSWERS["list_models"].published_schema["properties"]["models"]["items"]["properties"]
    assert models["n_features"] == {"type": "integer"}  # one format: typed in full


# ---- filters and batches ----------------------------------------------------------------------------
def test_unique_features_near_a_feature(small_matcher):
    page = small_matcher.list_unique_features("ultra", near_feature=7, limit=50)
    scores = [f.match_score for f in page.features]
    assert page.features and scores == sorted(scores, reverse=True)
    assert set(page.feature_ids) <= set(small_matcher.list_unique_features("ultra", limit=50).feature_ids)
    cs = small_matcher.candidate_scores(small_matcher.model("full"), 7)
    for f in page.features:
        assert f.match_score == pytest.approx(float(cs.match[f.feature]), abs=1e-6)
        assert f.relation == small_matcher.evidence(cs, f.feature).relation


def test_unique_features_by_relation_and_token(small_matcher):
    near = small_matcher.list_unique_features("ultra", near_feature=7, limit=50)
    for relation in {f.relation for f in near.features}:
        kept = small_matcher.list_unique_features("ultra", near_feature=7, relation=relation, limit=50)
        assert kept.feature_ids == [f.feature for f in near.features if f.relation == relation]
    token = near.features[0].distinctive_tokens[0].token
    by_token = small_matcher.list_unique_features("ultra", token=token, limit=50)
    m = small_matcher.model("ultra")
    weights = [float(m.token_weights[f, m.vocab.index(token)]) for f in by_token.feature_ids]
    assert by_token.total >= 1 and all(w > 0 for w in weights) and weights == sorted(weights, reverse=True)
    with pytest.raises(MatcherInputError, match="near_feature too"):
        small_matcher.list_unique_features("ultra", relation="same")


def test_compare_batch_equals_single_comparisons(small_matcher):
    batch = answer(small_matcher.compare_many("full", 1, target_features=[2, 3, 9]))
    singles = [answer(small_matcher.compare_features("full", 1, t)) for t in (2, 3, 9)]
    assert batch["response_format"] == "concise"
    assert without_timing(batch["comparisons"]) == without_timing(
        [{k: v for k, v in s.items() if k != "response_format"} for s in singles]
    )
    with pytest.raises(MatcherInputError, match="exactly one of target_feature"):
        small_matcher.compare_many("full", 1)


# ---- fast find_matches and fast start: exact caches ---------------------------------------------
@pytest.mark.parametrize("model", ["full", "ultra"])
def test_shortlists_give_the_full_scan_ranking(small_matcher, model):
    lists = small_matcher.shortlists
    n = small_matcher.model(model).n_features
    try:
        for f in range(n):
            for top_n in (1, 3, 10):
                small_matcher.shortlists = lists
                fast = small_matcher.find_matches(model, f, top_n)
                small_matcher.shortlists = None
                assert _without_timing(fast) == _without_timing(small_matcher.find_matches(model, f, top_n))
    finally:
        small_matcher.shortlists = lists


def test_shortlists_keep_their_edge_scores(small_matcher):
    lists = shortlists.build(small_matcher.pair, k=3)
    src = small_matcher.model("full")
    for f in range(src.n_features):
        cs = small_matcher.candidate_scores(src, f)
        best = np.sort(cs.match)[::-1]
        ids, cut = lists.shortlist("full", f, 3)
        assert np.allclose(np.sort(cs.match[ids])[::-1], best[:3])
        assert cut == pytest.approx(best[3])
    assert lists.shortlist("full", 0, 4) is None  # longer than the list: the full scan answers


def test_caches_are_written_reused_and_rebuilt_when_stale(small_pair_dir):
    first = open_pair(small_pair_dir)
    for rel in (NULL_CACHE, SHORTLISTS_CACHE, POOLS_CACHE):
        assert (small_pair_dir / rel).is_file(), rel
    again = open_pair(small_pair_dir)
    for name, d in first.null.directions.items():
        for signal, values in d.sorted_values.items():
            assert np.array_equal(values, again.null.directions[name].sorted_values[signal])
    # A cache that no longer matches the scores (or is unreadable) is rebuilt, not trusted.
    (small_pair_dir / SHORTLISTS_CACHE).write_bytes(b"not an npz")
    with np.load(small_pair_dir / NULL_CACHE) as z:
        arrays = {k: z[k] for k in z.files}
    probe = next(k for k in arrays if k.endswith("/probe/match_score"))
    original = arrays[probe].copy()
    arrays[probe] = original + 1.0
    write(small_pair_dir / NULL_CACHE, arrays)
    rebuilt = open_pair(small_pair_dir)
    assert _without_timing(rebuilt.find_matches("full", 1)) == _without_timing(first.find_matches("full", 1))
    with np.load(small_pair_dir / NULL_CACHE) as z:
        assert np.array_equal(z[probe], original)  # rewritten from the scores


def test_has_counterpart_from_the_alignment_matches_a_full_scan(small_matcher):
    for model in ("full", "ultra"):
        src = small_matcher.model(model)
        for f in range(src.n_features):
            cs = small_matcher.candidate_scores(src, f)
            assert small_matcher.find_matches(model, f).has_counterpart == small_matcher.has_counterpart(
                src, f, cs
            ), (model, f)


def test_cached_relation_pools_are_what_queries_would_measure(small_matcher):
    """Each feature's cached pool is its relation pool, with the masses measured at query time,
    and reports read from the cache equal reports that measure every mass themselves."""
    pair = small_matcher.pair
    for m in pair.models:
        t = pair.other(m.name)
        for f in range(m.n_features):
            ids, ts, st = small_matcher.pools.known(m.name, f)
            assert np.array_equal(ids, np.sort(pool_ids(pair, m, f)))
            si, sv = m.column(f)
            want = mass_containment(si, sv, pair.n_aligned, t.act_indptr, t.act_indices, t.act_data, ids)
            assert np.array_equal(ts, want[0]) and np.array_equal(st, want[1])
    queries = [(m.name, f) for m in pair.models for f in range(min(12, m.n_features))]
    cached = [small_matcher.find_matches(m, f, top_n=5) for m, f in queries]
    decomp = [small_matcher.find_decomposition(m, f) for m, f in queries]
    known = small_matcher.pools.known
    small_matcher.pools.known = lambda model, feature: None  # measure every mass at query time
    try:
        assert [_without_timing(r) for r in cached] == [
            _without_timing(small_matcher.find_matches(m, f, top_n=5)) for m, f in queries
        ]
        assert [_without_timing(r) for r in decomp] == [
            _without_timing(small_matcher.find_decomposition(m, f)) for m, f in queries
        ]
    finally:
        small_matcher.pools.known = known


def test_a_pools_cache_from_another_rule_is_rebuilt(small_pair_dir):
    """Cached pools whose masses no longer match what a query measures (say, a release that
    changed the relation pool's rule) are found by the probe and rebuilt, not trusted."""
    first = open_pair(small_pair_dir)
    arrays = {k: v.copy() for k, v in first.pools.arrays().items()}
    live = np.flatnonzero(~first.model("full").dead)
    lo = int(arrays["full/indptr"][live[0]])
    assert int(arrays["full/indptr"][live[0] + 1]) > lo, "the probe's first feature has a pool here"
    arrays["full/t_s"][lo] += 0.25
    write(small_pair_dir / POOLS_CACHE, arrays, first.pair.fingerprint)
    again = open_pair(small_pair_dir)
    assert np.array_equal(again.pools.arrays()["full/t_s"], first.pools.arrays()["full/t_s"])
