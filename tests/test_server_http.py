"""The server over streamable HTTP on 127.0.0.1: concurrency, Origin/Host checks, the bearer token."""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from crossmodel_matcher.answers import answer
from tests.server_fixtures import N_FULL, N_ULTRA, http_server, without_timing

pytest_plugins = ["tests.server_fixtures"]  # small_pair_dir, small_matcher, anyio_backend

TOKEN = "test-token-7f3a"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def open_url(small_pair_dir):
    with http_server(small_pair_dir) as url:
        yield url


@pytest.fixture(scope="module")
def token_url(small_pair_dir):
    with http_server(small_pair_dir, token=TOKEN) as url:
        yield url


def fifty_calls():
    """50 (tool, args, direct) triples over every tool and both directions."""
    calls = []
    for f in range(N_FULL):
        calls.append(
            ("find_matches", {"model": "full", "feature": f}, lambda m, f=f: m.find_matches("full", f))
        )
        calls.append(
            (
                "find_decomposition",
                {"model": "full", "feature": f},
                lambda m, f=f: m.find_decomposition("full", f),
            )
        )
    for f in range(0, N_ULTRA, 2):
        calls.append(
            (
                "find_matches",
                {"model": "ultra", "feature": f, "top_n": 4},
                lambda m, f=f: m.find_matches("ultra", f, 4),
            )
        )
        calls.append(
            (
                "compare_features",
                {"model": "ultra", "source_feature": f, "target_feature": f % N_FULL},
                lambda m, f=f: m.compare_features("ultra", f, f % N_FULL),
            )
        )
    for f in range(N_FULL):
        calls.append(
            (
                "describe_feature",
                {"model": "full", "feature": f},
                lambda m, f=f: m.describe_feature("full", f),
            )
        )
    calls.append(("list_models", {}, lambda m: m.info()))
    calls.append(
        ("find_decomposition", {"model": "ultra", "feature": 9}, lambda m: m.find_decomposition("ultra", 9))
    )
    assert len(calls) == 50
    return calls


@pytest.mark.anyio
async def test_fifty_concurrent_calls_all_answered_correctly(open_url, small_matcher):
    calls = fifty_calls()
    results: dict[int, object] = {}

    async def session(indices: list[int]) -> None:
        async with Client(open_url) as client, anyio.create_task_group() as tg:
            for i in indices:

                async def one(i: int = i) -> None:
                    tool, args, _ = calls[i]
                    results[i] = await client.call_tool(tool, args)

                tg.start_soon(one)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for s in range(5):  # five client sessions, ten calls in flight on each
                tg.start_soon(session, list(range(s, len(calls), 5)))
    assert len(results) == 50
    for i, (tool, args, direct) in enumerate(calls):
        result = results[i]
        assert not result.is_error, f"{tool}{args}: {result.content[0].text}"
        want = answer(direct(small_matcher))
        assert without_timing(result.structured_content) == without_timing(want), f"{tool}{args}"


def post_initialize(url: str, **headers: str) -> httpx2.Response:
    return httpx2.post(url, json=INITIALIZE, headers={**MCP_HEADERS, **headers}, timeout=30)


def test_foreign_origin_is_refused(open_url):
    port = open_url.split(":")[2].split("/")[0]
    refused = post_initialize(open_url, Origin="http://evil.example")
    assert refused.status_code == 403
    spoofed = post_initialize(open_url, Host="evil.example")  # DNS rebinding: a foreign Host header
    assert spoofed.status_code == 421
    allowed = post_initialize(open_url, Origin=f"http://localhost:{port}")
    assert allowed.status_code == 200, allowed.text
    assert "protocolVersion" in allowed.text


def test_bearer_token_is_enforced(token_url):
    missing = post_initialize(token_url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "CROSSMODEL_MATCHER_TOKEN" in json.loads(missing.text)["error_description"]
    wrong = post_initialize(token_url, Authorization=f"Bearer {TOKEN}x")
    assert wrong.status_code == 401
    basic = post_initialize(token_url, Authorization=f"Basic {TOKEN}")
    assert basic.status_code == 401
    right = post_initialize(token_url, Authorization=f"Bearer {TOKEN}")
    assert right.status_code == 200, right.text


@pytest.mark.anyio
async def test_client_with_token_gets_answers(token_url, small_matcher):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
        async with Client(streamable_http_client(token_url, http_client=http)) as client:
            result = await client.call_tool("describe_feature", {"model": "ultra", "feature": 8})
    assert not result.is_error
    assert result.structured_content == answer(small_matcher.describe_feature("ultra", 8))
