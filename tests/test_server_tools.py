"""The MCP server in-process: every tool, every error, the resources, the tools/list snapshot."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from crossmodel_matcher.answers import answer, compact_json
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.matcher.decompose import MAX_PARTS
from crossmodel_matcher.rules import MAX_TOP_N, RANK_KEYS
from crossmodel_matcher.schemas import (
    AlignmentSummary,
    ComparisonReport,
    DecompositionReport,
    FeatureSummary,
    MatchReport,
    PairInfo,
    UniqueFeaturesPage,
)
from crossmodel_matcher.server import READ_ONLY, create_server
from tests.server_fixtures import without_timing

pytest_plugins = ["tests.server_fixtures"]  # small_matcher, small_pair_dir, anyio_backend
pytestmark = pytest.mark.anyio

GOLDEN = Path(__file__).parent / "golden" / "tools_list.json"
TOOLS = (
    "find_matches", "compare_features", "find_decomposition", "list_models", "describe_feature",
    "list_unique_features", "pair_alignment",
)
FEATURE_TOOLS = set(TOOLS) - {"list_models", "pair_alignment"}  # these take response_format


@pytest.fixture(scope="module")
def server(small_matcher):
    return create_server(small_matcher)


async def call(server, tool: str, args: dict):
    async with Client(server) as client:
        return await client.call_tool(tool, args)


def error_text(result) -> str:
    assert result.is_error, f"expected an error result, got {result.structured_content}"
    assert result.structured_content is None
    return result.content[0].text


# ---- every tool returns exactly the core's report ----------------------------------------------
@pytest.mark.parametrize(
    ("tool", "args", "model", "direct"),
    [
        ("find_matches", {"model": "full", "feature": 1}, MatchReport, lambda m: m.find_matches("full", 1)),
        (
            "find_matches",
            {"model": "ultra", "feature": 2, "top_n": 3, "rank_by": "jaccard"},
            MatchReport,
            lambda m: m.find_matches("ultra", 2, 3, "jaccard"),
        ),
        (
            "compare_features",
            {"model": "full", "source_feature": 4, "target_feature": 8},
            ComparisonReport,
            lambda m: m.compare_features("full", 4, 8),
        ),
        (
            "compare_features",
            {"model": "ultra", "source_feature": 9, "target_feature": 7},
            ComparisonReport,
            lambda m: m.compare_features("ultra", 9, 7),
        ),
        (
            "find_decomposition",
            {"model": "full", "feature": 7},
            DecompositionReport,
            lambda m: m.find_decomposition("full", 7),
        ),
        (
            "find_decomposition",
            {"model": "ultra", "feature": 3, "max_parts": 2},
            DecompositionReport,
            lambda m: m.find_decomposition("ultra", 3, 2),
        ),
        ("list_models", {}, PairInfo, lambda m: m.info()),
        ("pair_alignment", {}, AlignmentSummary, lambda m: m.alignment_summary()),
        (
            "list_unique_features",
            {"model": "ultra", "offset": 1, "limit": 3},
            UniqueFeaturesPage,
            lambda m: m.list_unique_features("ultra", 1, 3),
        ),
        (
            "describe_feature",
            {"model": "full", "feature": 6, "n_tokens": 5},
            FeatureSummary,
            lambda m: m.describe_feature("full", 6, 5),
        ),
        (
            "describe_feature",
            {"model": "ultra", "feature": 0},
            FeatureSummary,
            lambda m: m.describe_feature("ultra", 0),
        ),
    ],
)
@pytest.mark.parametrize("fmt", ["concise", "detailed"])
async def test_tool_returns_the_core_report(server, small_matcher, tool, args, model, direct, fmt):
    """Detailed: the core's report as is; concise: its projection; default: concise."""
    if tool in FEATURE_TOOLS and fmt == "detailed":
        args = {**args, "response_format": "detailed"}
    result = await call(server, tool, args)
    assert not result.is_error, result.content[0].text
    report = direct(small_matcher)
    if fmt == "detailed":
        got = {k: v for k, v in result.structured_content.items() if k != "response_format"}
        assert without_timing(model.model_validate(got).model_dump(mode="json")) == without_timing(
            report.model_dump(mode="json")
        )
    assert without_timing(result.structured_content) == without_timing(answer(report, fmt))
    # The same JSON, without indentation, travels as a text block for clients that read text.
    assert result.content[0].text == compact_json(result.structured_content)


async def test_planted_relations_come_through(server):
    """Sanity on the small pair: the server's answers carry the planted structure."""
    # full 1 splits into two halves; the larger (57% of its examples, correlation 0.79) reads
    # as the same feature by the relation rule, the other as its refinement: both are named.
    split = (await call(server, "find_decomposition", {"model": "full", "feature": 1})).structured_content
    assert split["verdict"] in ("split", "one_to_one")
    assert sorted(set(split["part_ids"]) | set(split["refinement_ids"])) == [2, 3]
    unique = (await call(server, "find_matches", {"model": "full", "feature": 5})).structured_content
    assert unique["has_counterpart"] is False
    poly = (await call(server, "find_decomposition", {"model": "full", "feature": 7})).structured_content
    assert poly["verdict"] == "polysemantic" and sorted(poly["part_ids"]) == [9, 10]


# ---- the tools/list contract --------------------------------------------------------------------
async def test_tools_list_shape(server):
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {*TOOLS, "show_figure"}  # show_figure: tests/test_server_figures.py
    for tool in (tools[name] for name in TOOLS):
        assert tool.title and tool.description
        assert tool.annotations == READ_ONLY
        assert tool.output_schema and tool.output_schema["type"] == "object"
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    fm = tools["find_matches"].input_schema["properties"]
    assert fm["model"]["enum"] == ["full", "ultra"]
    assert (fm["feature"]["minimum"], fm["feature"]["maximum"]) == (0, 23)
    assert (fm["top_n"]["minimum"], fm["top_n"]["maximum"], fm["top_n"]["default"]) == (1, MAX_TOP_N, 10)
    assert fm["rank_by"]["enum"] == list(RANK_KEYS)
    mp = tools["find_decomposition"].input_schema["properties"]["max_parts"]
    assert (mp["minimum"], mp["maximum"], mp["default"]) == (1, MAX_PARTS, 12)
    assert tools["find_matches"].input_schema["required"] == ["model", "feature"]


async def test_tools_list_golden(server):
    """Any change to the tool contract shows up here; UPDATE_GOLDEN=1 rewrites the snapshot."""
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    got = [
        t.model_dump(mode="json", by_alias=True, exclude_none=True)
        for t in sorted(tools, key=lambda t: t.name)
    ]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert GOLDEN.is_file(), "no golden snapshot yet: run with UPDATE_GOLDEN=1"
    want = json.loads(GOLDEN.read_text())
    assert got == want, "tools/list changed: review the diff, then rerun with UPDATE_GOLDEN=1"


# ---- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        # unknown model: names the argument and the valid names
        (
            "find_matches",
            {"model": "fulll", "feature": 1},
            ["model must be one of 'full' or 'ultra'", "'fulll'"],
        ),
        ("describe_feature", {"model": "", "feature": 1}, ["model must be one of 'full' or 'ultra'"]),
        ("find_matches", {"model": 3, "feature": 1}, ["model must be one of"]),
        # out of range for this model (inside the schema's bound): the core's sentence
        (
            "find_matches",
            {"model": "full", "feature": 8},
            ["feature=8 is out of range for model 'full'", "0..7"],
        ),
        (
            "compare_features",
            {"model": "ultra", "source_feature": 1, "target_feature": 8},
            ["target_feature=8 is out of range for model 'full'", "0..7"],
        ),
        ("find_decomposition", {"model": "full", "feature": 23}, ["out of range for model 'full'", "0..7"]),
        # outside every model's range: names both ranges
        (
            "find_matches",
            {"model": "ultra", "feature": 24},
            ["feature must be an integer feature id", "0..7 for 'full', 0..23 for 'ultra'"],
        ),
        ("describe_feature", {"model": "full", "feature": -1}, ["feature must be an integer feature id"]),
        (
            "compare_features",
            {"model": "full", "source_feature": 99, "target_feature": 0},
            ["source_feature must be an integer feature id"],
        ),
        # bounds of the other arguments
        (
            "find_matches",
            {"model": "full", "feature": 1, "top_n": 0},
            [f"top_n must be an integer from 1 to {MAX_TOP_N}"],
        ),
        (
            "find_matches",
            {"model": "full", "feature": 1, "top_n": MAX_TOP_N + 1},
            ["top_n must be", f"(got {MAX_TOP_N + 1})"],
        ),
        (
            "find_matches",
            {"model": "full", "feature": 1, "rank_by": "cosine"},
            ["rank_by must be one of match_score, combined_score, jaccard, weighted_overlap, "
             "activation_correlation"],
        ),
        (
            "find_decomposition",
            {"model": "full", "feature": 1, "max_parts": 0},
            [f"max_parts must be an integer from 1 to {MAX_PARTS}"],
        ),
        (
            "find_decomposition",
            {"model": "full", "feature": 1, "max_parts": MAX_PARTS + 1},
            ["max_parts must be"],
        ),
        (
            "describe_feature",
            {"model": "full", "feature": 1, "n_tokens": 51},
            ["n_tokens must be an integer from 1 to 50"],
        ),
        # wrong types
        (
            "find_matches",
            {"model": "full", "feature": "abc"},
            ["feature must be an integer feature id", "'abc'"],
        ),
        (
            "find_matches",
            {"model": "full", "feature": True},
            ["feature must be an integer feature id", "True"],
        ),
        ("find_matches", {"model": "full", "feature": 1.5}, ["feature must be an integer feature id"]),
        ("find_matches", {"model": "full", "feature": [1]}, ["feature must be an integer feature id"]),
        ("find_matches", {"model": "full", "feature": None}, ["feature must be an integer feature id"]),
        ("find_matches", {"model": "full", "feature": 1, "top_n": "ten"}, ["top_n must be"]),
        ("find_decomposition", {"model": ["full"], "feature": 1}, ["model must be one of"]),
        # missing arguments
        ("find_matches", {"model": "full"}, ["feature", "required"]),
        ("compare_features", {"model": "full", "source_feature": 1}, ["exactly one of target_feature"]),
        ("find_matches", {"model": "full", "feature": 1, "response_format": "short"},
         ["response_format must be 'concise' or 'detailed'"]),
        ("list_unique_features", {"model": "ultra", "near_feature": 99}, ["near_feature must be"]),
        ("list_unique_features", {"model": "ultra", "near_feature": 9},
         ["near_feature=9 is out of range for model 'full'", "0..7"]),
        ("list_unique_features", {"model": "ultra", "near_model": "ultra", "near_feature": 1},
         ["near_model='ultra' must be 'full'"]),
        ("list_unique_features", {"model": "ultra", "relation": "same"}, ["give near_feature too"]),
        ("list_unique_features", {"model": "ultra", "token": "nope"}, ["token='nope' is not in the"]),
    ],
)
async def test_bad_arguments_are_actionable_errors(server, tool, args, expected):
    """One sentence naming the argument and what is valid: no validation-library wrapper."""
    text = error_text(await call(server, tool, args))
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert text.startswith(f"{tool}: ")
    for wrapper in ("Traceback", "validation error", "[type=", "pydantic", "Error executing tool"):
        assert wrapper not in text, text


async def test_unknown_tool_is_an_error(server):
    text = error_text(await call(server, "find_matchez", {}))
    assert "find_matchez" in text


class ExplodingMatcher(Matcher):
    """A matcher whose find_matches crashes with a message the client must not see."""

    def find_matches(self, *args, **kwargs):
        raise RuntimeError("secret internal detail /home/someone")


async def test_unexpected_error_is_generic_logged_and_survived(small_matcher, caplog):
    server = create_server(ExplodingMatcher(small_matcher.pair))
    with caplog.at_level(logging.ERROR, logger="crossmodel_matcher.server"):
        async with Client(server) as client:
            bad = await client.call_tool("find_matches", {"model": "full", "feature": 1})
            text = error_text(bad)
            assert "internal error" in text and "find_matches" in text
            assert "secret" not in text and "Traceback" not in text
            ok = await client.call_tool("describe_feature", {"model": "full", "feature": 1})
            assert not ok.is_error
    logged = [r for r in caplog.records if r.name == "crossmodel_matcher.server"]
    assert logged and logged[0].exc_info and "secret internal detail" in str(logged[0].exc_info[1])


# ---- resources ----------------------------------------------------------------------------------
async def test_resources_mirror_the_tools(server, small_matcher):
    async with Client(server) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert "pair://info" in listed and "feature://{model}/{feature}" in templates
        info = await client.read_resource("pair://info")
        assert json.loads(info.contents[0].text) == small_matcher.info().model_dump(mode="json")
        feat = await client.read_resource("feature://ultra/3")
        assert json.loads(feat.contents[0].text) == small_matcher.describe_feature("ultra", 3).model_dump(
            mode="json"
        )


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("feature://full/8", "out of range for model 'full'"),
        ("feature://wide/1", "unknown model 'wide'"),
        ("feature://full/abc", "is not an integer"),
    ],
)
async def test_resource_errors(server, uri, fragment):
    async with Client(server) as client:
        with pytest.raises(MCPError, match=fragment.replace("(", r"\(")):
            await client.read_resource(uri)


# ---- concurrency: work runs on a bounded pool of worker threads, off the event loop -------------
class SlowMatcher(Matcher):
    """find_matches sleeps on its worker thread and records how many run at once."""

    def __init__(self, pair):
        super().__init__(pair)
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def find_matches(self, *args, **kwargs):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(0.15)
        with self.lock:
            self.running -= 1
        return super().find_matches(*args, **kwargs)


async def test_queries_run_off_the_loop_within_the_thread_limit(small_matcher):
    slow = SlowMatcher(small_matcher.pair)
    server = create_server(slow, max_threads=2)
    results = []
    async with Client(server) as client:

        async def one(f: int) -> None:
            results.append(await client.call_tool("find_matches", {"model": "full", "feature": f}))

        async with anyio.create_task_group() as tg:
            for f in range(6):
                tg.start_soon(one, f)
            await anyio.sleep(0.05)
            await client.list_tools(cache_mode="bypass")  # the loop answers while workers sleep
            in_flight, answered = slow.running, len(results)
    assert len(results) == 6 and not any(r.is_error for r in results)
    assert slow.peak == 2
    # The ping was answered while queries were still running on the worker threads, not after
    # the queue of six (0.45 s of sleeps two at a time) had drained.
    assert in_flight > 0 and answered < 6


def test_create_server_needs_a_positive_thread_limit(small_matcher):
    with pytest.raises(ValueError, match="max_threads"):
        create_server(small_matcher, max_threads=0)


async def test_server_from_a_pair_dir_loads_in_the_lifespan(small_pair_dir, small_matcher):
    server = create_server(pair_dir=small_pair_dir)
    result = await call(server, "list_models", {})
    assert result.structured_content == small_matcher.info().model_dump(mode="json")
