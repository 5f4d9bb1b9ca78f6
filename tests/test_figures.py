"""Figures drawn from reports: size, legibility basics, determinism, and every report shape."""

from __future__ import annotations

import struct

import pytest

from crossmodel_matcher.figures import (
    HEIGHT_PX,
    WIDTH_PX,
    containment_plane,
    decomposition_bars,
    pair_overview,
)

MAX_PNG_BYTES = 60_000


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def check_image(image, kind: str) -> None:
    assert image.kind == kind
    assert png_size(image.png) == (WIDTH_PX, HEIGHT_PX) == (image.width, image.height)
    assert len(image.png) <= MAX_PNG_BYTES
    assert b"tEXt" not in image.png and b"tIME" not in image.png  # no software tag, no timestamp
    assert "\n" not in image.caption and image.caption.endswith(".")


def test_containment_plane_is_deterministic_and_names_the_counterparts(tiny):
    report = tiny.find_matches("narrow", 1, top_n=5)
    image = containment_plane(report)
    check_image(image, "containment")
    assert containment_plane(report).png == image.png
    assert "narrow 1" in image.caption
    for fid in report.counterpart_ids:
        assert str(fid) in image.caption


def test_containment_plane_differs_when_the_report_differs(tiny):
    a = containment_plane(tiny.find_matches("narrow", 0, top_n=5)).png
    b = containment_plane(tiny.find_matches("narrow", 1, top_n=5)).png
    assert a != b


def test_containment_plane_without_activations_draws_token_overlap(tiny):
    report = tiny.find_matches("narrow", 1, top_n=5)
    tokens_only = report.model_copy(
        update={
            "matches": [
                m.model_copy(
                    update={
                        "evidence": m.evidence.model_copy(
                            update={"target_given_source": None, "source_given_target": None, "cofire_count": None}
                        )
                    }
                )
                for m in report.matches
            ]
        }
    )
    image = containment_plane(tokens_only)
    check_image(image, "containment")
    assert image.png != containment_plane(report).png


def test_decomposition_bars_of_a_split_and_of_nothing(tiny):
    split = tiny.find_decomposition("narrow", 1)
    image = decomposition_bars(split)
    check_image(image, "decomposition")
    assert decomposition_bars(split).png == image.png
    assert split.verdict in image.caption
    for fid in split.part_ids:
        assert str(fid) in image.caption
    empty = split.model_copy(update={"parts": [], "part_ids": [], "explained_variance_steps": []})
    check_image(decomposition_bars(empty), "decomposition")


def test_decomposition_bars_of_a_wide_feature_draws_its_parents(tiny):
    report = tiny.find_decomposition("wide", 1)
    image = decomposition_bars(report)
    check_image(image, "decomposition")
    assert "wide 1" in image.caption


def test_pair_overview(tiny):
    report = tiny.alignment_summary()
    image = pair_overview(report)
    check_image(image, "overview")
    assert pair_overview(report).png == image.png


@pytest.mark.demo
def test_demo_figures_fit_the_answer_budget(demo):
    for image in (
        containment_plane(demo.find_matches("full", 7, top_n=20)),
        decomposition_bars(demo.find_decomposition("full", 10)),
        pair_overview(demo.alignment_summary()),
    ):
        check_image(image, image.kind)
