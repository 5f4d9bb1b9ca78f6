"""The server on the full-size demo pair (marked demo: builds the pair into the cache if needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mcp import Client

from crossmodel_matcher.demo import load_truth
from crossmodel_matcher.demo.session import choose_features, truth_line
from crossmodel_matcher.server import create_server

pytestmark = pytest.mark.demo


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_demo_pair_signatures(demo, anyio_backend):
    async with Client(create_server(demo)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        feature = tools["find_matches"].input_schema["properties"]["feature"]
        assert tools["find_matches"].input_schema["properties"]["model"]["enum"] == ["full", "ultra"]
        assert (feature["minimum"], feature["maximum"]) == (0, 24575)
        assert "0..2047 for 'full', 0..24575 for 'ultra'" in feature["description"]
        bad = await client.call_tool("describe_feature", {"model": "full", "feature": 2048})
        assert bad.is_error and "valid ids are 0..2047" in bad.content[0].text


def test_demo_subcommand_calls_every_tool(demo_pair_dir):
    """`crossmodel-matcher demo --json`: a real stdio session over every tool, on the demo pair."""
    done = subprocess.run(
        [sys.executable, "-m", "crossmodel_matcher", "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    calls = json.loads(done.stdout)["calls"]
    assert {c["tool"] for c in calls} == {
        "list_models",
        "describe_feature",
        "find_matches",
        "compare_features",
        "find_decomposition",
        "list_unique_features",
        "pair_alignment",
    }
    errors = [c for c in calls if c["is_error"]]
    assert len(errors) == 1 and errors[0]["arguments"]["feature"] == 999999  # the deliberate bad call
    assert "0..2047 for 'full'" in errors[0]["error"]
    # The demo picks its features from the truth file, and its truth lines read the real results.
    picks = choose_features(load_truth(demo_pair_dir))
    by_call = {(c["tool"], json.dumps(c["arguments"], sort_keys=True)): c["result"] for c in calls}
    lines = {}
    for pick in picks:
        results = {tool: by_call[(tool, json.dumps(args, sort_keys=True))] for tool, args in pick.calls}
        lines[pick.truth["role"]] = truth_line(pick, results)
    assert set(lines) == {"one_to_one", "split", "polysemantic", "unique", "child"}
    assert lines["one_to_one"][1], lines["one_to_one"][0]  # the planted partner is found, ranked first
