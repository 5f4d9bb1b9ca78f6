"""The Claude Code plugin files: .mcp.json starts the server, plugin.json and the skill link."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

pytest_plugins = ["tests.server_fixtures"]  # small_pair_dir, anyio_backend

ROOT = Path(__file__).resolve().parents[1]


def expand(value: str, env: dict[str, str]) -> str:
    """Claude Code's ${VAR} expansion in .mcp.json."""
    return re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], value)


def mcp_config() -> dict:
    return json.loads((ROOT / ".mcp.json").read_text())["mcpServers"]["crossmodel-matcher"]


def test_plugin_manifest_and_skill_link():
    plugin = json.loads((ROOT / ".claude-plugin" / "plugin.json").read_text())
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", plugin["name"])
    assert plugin["mcpServers"] == "./.mcp.json" and plugin["skills"] == "./skills/"
    assert 0 < len(plugin["description"]) <= 1024
    link = ROOT / "skills" / plugin["name"] / "SKILL.md"
    assert link.is_symlink() and os.readlink(link) == "../../SKILL.md"
    config = mcp_config()
    assert config["command"] == "${CLAUDE_PLUGIN_ROOT}/.venv/bin/crossmodel-matcher"
    assert config["args"][0] == "serve"


@pytest.mark.anyio
async def test_mcp_json_starts_the_server(small_pair_dir, tmp_path):
    """Launch exactly what .mcp.json says, as Claude Code would, with the plugin root expanded."""
    config = mcp_config()
    env = dict(os.environ, CLAUDE_PLUGIN_ROOT=str(ROOT))
    command = expand(config["command"], env)
    if not Path(command).exists():
        pytest.skip(f"{command} is missing: run `make setup` first")
    server_env = {k: expand(v, env) for k, v in config.get("env", {}).items()}
    server_env["CROSSMODEL_MATCHER_CACHE"] = str(tmp_path)  # never build the demo pair here
    server_env["CROSSMODEL_MATCHER_PAIR"] = str(small_pair_dir)
    params = StdioServerParameters(
        command=command, args=[expand(a, env) for a in config["args"]], env={**os.environ, **server_env}
    )
    async with Client(params) as client:
        result = await client.call_tool("list_models", {})
    assert not result.is_error
    assert [m["name"] for m in result.structured_content["models"]] == ["full", "ultra"]
