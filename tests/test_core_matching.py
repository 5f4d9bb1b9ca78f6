"""The matcher core on a tiny pair whose numbers are worked out by hand (see conftest.py)."""

from __future__ import annotations

import math

import pytest

from crossmodel_matcher.matcher import MatcherInputError
from crossmodel_matcher.schemas import OverlapBand, ScoreBand, overlap_band, score_band

from .conftest import TINY_COPIES

# narrow 0 vs wide 0 over the ten aligned examples:
#   x = [3,2,0,0,1,0,0,1,0,0], y = [2,1,0,0,1,0,0,1,0,0]
#   cov = 10/10 - 0.7*0.5 = 0.65; var x = 15/10 - 0.49 = 1.01; var y = 7/10 - 0.25 = 0.45
CORR_N0_W0 = 0.65 / math.sqrt(1.01 * 0.45)


def test_pearson_and_combined_score_by_hand(tiny):
    ev = tiny.compare_features("narrow", 0, 0).evidence
    assert ev.activation_correlation == pytest.approx(CORR_N0_W0, abs=1e-5)
    # Both top rows are e0 = {a, b, w1}: identical top sets.
    assert ev.jaccard == pytest.approx(1.0)
    assert ev.combined_score == pytest.approx(0.4 * 1.0 + 0.6 * CORR_N0_W0, abs=1e-5)
    assert ev.overlap_band is OverlapBand.strong
    assert ev.score_band is ScoreBand.strong
    assert ev.relation == "same"


def test_jaccard_and_containment_by_hand(tiny):
    # narrow 1 fires on e1 e3 e5 e8; wide 2 only on e8. Top rows: e3 = {d, e, w2} vs e8 = {b, d, w1}.
    rep = tiny.compare_features("narrow", 1, 2)
    ev = rep.evidence
    assert ev.jaccard == pytest.approx(1 / 5)
    assert ev.overlap_band is OverlapBand.moderate
    assert ev.cofire_count == TINY_COPIES
    assert ev.target_given_source == pytest.approx(1 / 4)
    assert ev.source_given_target == pytest.approx(1.0)
    assert ev.relation == "child"
    assert rep.source_only_fires == 3 * TINY_COPIES and rep.target_only_fires == 0
    assert [t.token for t in rep.tokens.shared_tokens] == ["d"]
    assert {t.token for t in rep.tokens.source_only_tokens} == {"e", "w2"}
    assert {t.token for t in rep.tokens.target_only_tokens} == {"b", "w1"}


def test_negative_correlation_falls_back_to_jaccard(tiny):
    ev = tiny.compare_features("wide", 3, 0).evidence
    assert ev.activation_correlation < 0
    assert ev.combined_score == pytest.approx(ev.jaccard)
    assert ev.cofire_count == 0 and ev.relation == "none"


def test_find_matches_ranks_every_candidate_both_directions(tiny):
    down = tiny.find_matches("narrow", 0, top_n=5)
    assert down.direction == "narrow_to_wide"
    assert down.n_candidates_tested == 5 and len(down.matches) == 5
    assert down.match_ids[0] == 0 and down.has_counterpart
    scores = [m.evidence.match_score for m in down.matches]
    assert scores == sorted(scores, reverse=True)
    up = tiny.find_matches("wide", 0, top_n=3)
    assert up.direction == "wide_to_narrow"
    assert up.n_candidates_tested == 3
    assert up.match_ids[0] == 0
    assert up.source_label == "wide feature zero"


def test_rank_by_original_combined_score(tiny):
    # Counterparts come first (same, then parent / child), each group by the chosen key.
    rep = tiny.find_matches("narrow", 1, top_n=5, rank_by="combined_score")
    assert [m.evidence.relation for m in rep.matches[:2]] == ["same", "child"]
    rest = [m.evidence.combined_score for m in rep.matches[2:]]
    assert rest == sorted(rest, reverse=True)
    assert rep.counterpart_ids == [1, 2] and rep.match_ids[:2] == [1, 2]
    assert rep.ranked_by == "combined_score"


def test_no_counterpart_and_dead_features(tiny):
    unrelated = tiny.find_matches("wide", 3)
    assert not unrelated.has_counterpart
    assert "No counterpart" in unrelated.reading
    dead = tiny.find_matches("narrow", 2)
    assert dead.source_dead and not dead.has_counterpart
    assert "never fires" in dead.reading
    assert tiny.find_decomposition("narrow", 2).verdict == "no_counterpart"


def test_decomposition_nnls_by_hand(tiny):
    # y = narrow 1, parts wide 1 and wide 2 (both inside it). NNLS: b = 1 (e8), a = 8/13;
    # SSR = 1 (e1 unexplained) + (2/13)^2 + (3/13)^2; SST = 7 - 25/10 = 4.5.
    # Wide 1 is the same feature (correlation 0.80, 60% of narrow 1's mass where it fires, all
    # of its own inside narrow 1): one-to-one, and wide 2 (inside, shares token d) refines it.
    rep = tiny.find_decomposition("narrow", 1, max_parts=4)
    assert rep.verdict == "one_to_one"
    assert rep.part_ids == [1]
    assert rep.parts[0].weight == pytest.approx(8 / 13, abs=1e-5)
    assert rep.explained_variance == pytest.approx(1 - (1 + 13 / 169) / 4.5, abs=1e-5)
    assert rep.refinement_ids == [2]
    ref = rep.refinements[0]
    assert ref.mass_share == pytest.approx(1 / 5) and ref.inside == pytest.approx(1.0)
    assert "d" in [t.token for t in ref.distinctive_tokens]
    assert rep.n_candidates_tested == 5


def test_wide_feature_reports_its_parent(tiny):
    rep = tiny.find_decomposition("wide", 2)
    assert rep.direction == "wide_to_narrow"
    assert rep.parent_ids[:1] == [1] and rep.part_ids == [] and rep.parts == []
    assert rep.verdict != "no_counterpart"
    assert tiny.find_decomposition("wide", 3).verdict == "no_counterpart"


def test_describe_feature_and_info(tiny):
    s = tiny.describe_feature("narrow", 0)
    assert s.fire_count == 4 * TINY_COPIES + 1 and not s.dead  # e0 e1 e4 e7, and the narrow-only one
    assert s.max_activation == pytest.approx(3.0)
    assert [t.token for t in s.top_tokens] == ["a", "b", "w1"]
    info = tiny.info()
    assert [m.name for m in info.models] == ["narrow", "wide"]
    assert info.n_aligned_examples == 10 * TINY_COPIES
    assert info.models[0].n_dead == 1 and info.models[1].n_dead == 1
    assert "activations" in info.models[0].signals


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.find_matches("medium", 0), "unknown model 'medium'"),
        (lambda m: m.find_matches("narrow", 3), "valid ids are 0..2"),
        (lambda m: m.find_matches("wide", -1), "valid ids are 0..4"),
        (lambda m: m.find_matches("narrow", 0, top_n=0), "top_n=0 is out of range"),
        (lambda m: m.find_matches("narrow", 0, rank_by="vibes"), "rank_by='vibes'"),
        (lambda m: m.find_matches("narrow", "7"), "must be an integer"),
        (lambda m: m.compare_features("narrow", 0, 9), "target_feature=9"),
        (lambda m: m.find_decomposition("narrow", 0, max_parts=99), "max_parts=99"),
    ],
)
def test_bad_arguments_name_the_argument(tiny, call, message):
    with pytest.raises(MatcherInputError, match=message.replace("(", r"\(")):
        call(tiny)


def test_bands_edges():
    assert overlap_band(0.31) is OverlapBand.strong
    assert overlap_band(0.3) is OverlapBand.moderate
    assert overlap_band(0.1) is OverlapBand.moderate
    assert overlap_band(0.099) is OverlapBand.weak
    assert score_band(0.51) is ScoreBand.strong
    assert score_band(0.5) is ScoreBand.good
    assert score_band(0.2) is ScoreBand.moderate
    assert score_band(0.1) is ScoreBand.weak
