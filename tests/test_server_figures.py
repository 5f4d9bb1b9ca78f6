"""The figure tool and resources over MCP, and a server that answers before its pair has loaded."""

from __future__ import annotations

import base64
import struct
import threading

import pytest
from mcp import Client

from crossmodel_matcher import server as server_module
from crossmodel_matcher.server import create_server

pytest_plugins = ["tests.server_fixtures"]  # small_pair_dir, small_matcher, anyio_backend
pytestmark = pytest.mark.anyio

MAX_PNG_BYTES = 60_000


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def server(small_matcher):
    return create_server(small_matcher)


async def test_show_figure_has_no_output_schema(server):
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    tool = tools["show_figure"]
    assert tool.output_schema is None  # a result with structuredContent would lose its image
    assert tool.input_schema["required"] == ["kind"]
    assert tool.input_schema["properties"]["kind"]["enum"] == ["containment", "decomposition", "overview"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"kind": "containment", "model": "full", "feature": 0}, "full 0"),
        ({"kind": "decomposition", "model": "full", "feature": 7}, "full 7"),
        ({"kind": "decomposition", "model": "ultra", "feature": 3}, "ultra 3"),
        ({"kind": "overview"}, "Pair overview"),
    ],
)
async def test_show_figure_returns_a_captioned_png(server, args, named):
    async with Client(server) as client:
        result = await client.call_tool("show_figure", args)
    assert not result.is_error and result.structured_content is None
    caption, image = result.content
    assert caption.type == "text" and named in caption.text and "\n" not in caption.text
    assert image.type == "image" and image.mime_type == "image/png"
    png = base64.b64decode(image.data)
    assert png_size(png) == (800, 600) and len(png) <= MAX_PNG_BYTES
    assert f"{len(png):,} bytes" in caption.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"kind": "containment", "model": "full"}, "needs model and feature"),
        ({"kind": "containment", "model": "full", "feature": 8}, "0..7"),
        ({"kind": "pie", "model": "full", "feature": 1}, "kind"),
        ({"kind": "decomposition", "model": "wide", "feature": 1}, "model must be one of"),
    ],
)
async def test_show_figure_bad_arguments_are_tool_errors(server, args, message):
    async with Client(server) as client:
        result = await client.call_tool("show_figure", args)
        assert result.is_error and message in result.content[0].text
        assert not (await client.call_tool("list_models", {})).is_error  # still serving


async def test_figure_resources_match_the_tool(server):
    async with Client(server) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert "figure://{kind}/{model}/{feature}.png" in templates
        blob = (await client.read_resource("figure://decomposition/full/7.png")).contents[0]
        tool = await client.call_tool("show_figure", {"kind": "decomposition", "model": "full", "feature": 7})
        overview = (await client.read_resource("figure://overview.png")).contents[0]
    assert blob.mime_type == "image/png" and blob.blob == tool.content[1].data
    assert png_size(base64.b64decode(overview.blob)) == (800, 600)


async def test_figure_resource_errors(server):
    from mcp.shared.exceptions import MCPError

    async with Client(server) as client:
        for uri, message in [
            ("figure://containment/full/x.png", "not an integer"),
            ("figure://containment/full/99.png", "0..7"),
            ("figure://overview/full/1.png", "figure://overview.png"),
        ]:
            with pytest.raises(MCPError, match=message.replace(".", r"\.")):
                await client.read_resource(uri)


async def test_initialize_is_answered_while_the_pair_loads(small_pair_dir, small_matcher, monkeypatch):
    """The pair loads on its own thread: tools/list answers at once, queries wait for the pair."""
    release = threading.Event()
    real_load = server_module.open_pair

    def slow_load(path):
        assert release.wait(30), "the test never released the load"
        return real_load(path)

    monkeypatch.setattr(server_module, "open_pair", slow_load)
    server = create_server(pair_dir=small_pair_dir)
    async with Client(server) as client:
        names = {t.name for t in (await client.list_tools()).tools}  # answered before any load
        assert "find_matches" in names
        release.set()
        result = await client.call_tool("list_models", {})
    assert result.structured_content == small_matcher.info().model_dump(mode="json")


async def test_a_pair_that_fails_to_load_is_a_tool_error(small_pair_dir, monkeypatch):
    def broken(path):
        raise OSError("disk on fire")

    monkeypatch.setattr(server_module, "open_pair", broken)
    server = create_server(pair_dir=small_pair_dir)
    async with Client(server) as client:
        for tool in ("list_models", "find_matches"):
            args = {"model": "full", "feature": 0} if tool == "find_matches" else {}
            result = await client.call_tool(tool, args)
            assert result.is_error
            assert "could not load" in result.content[0].text and "disk on fire" in result.content[0].text


async def test_first_start_builds_the_demo_pair_in_the_background(small_pair_dir, small_matcher, monkeypatch, tmp_path):
    """No pair named and no demo pair yet: the server is typed from the demo's sizes at once,
    and the demo pair is built on the loader thread (here: a stand-in of the small pair's sizes)."""
    from crossmodel_matcher import demo, demo_paths

    built = threading.Event()

    def build_demo(**_):
        built.set()
        return small_pair_dir

    monkeypatch.delenv("CROSSMODEL_MATCHER_PAIR", raising=False)
    monkeypatch.setattr(demo_paths, "demo_pair_dir", lambda *a, **k: tmp_path / "not-built-yet")
    monkeypatch.setattr(demo, "ensure_demo_pair", build_demo)
    monkeypatch.setattr(demo, "N_FULL", 8)
    monkeypatch.setattr(demo, "N_ULTRA", 24)
    server = create_server()
    async with Client(server) as client:
        result = await client.call_tool("list_models", {})
    assert built.is_set()
    assert result.structured_content == small_matcher.info().model_dump(mode="json")
