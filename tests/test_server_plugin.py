"""The Claude Code plugin files: .mcp.json starts the server, plugin.json and the skill link,
and the launcher that makes the server's environment on first start."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

pytest_plugins = ["tests.server_fixtures"]  # small_pair_dir, anyio_backend

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "scripts" / "plugin-server.sh"
CONSOLE_SCRIPT = Path(sys.executable).with_name("crossmodel-matcher")


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
    assert config["command"] == "sh"
    assert config["args"] == ["${CLAUDE_PLUGIN_ROOT}/scripts/plugin-server.sh", "serve"]
    assert LAUNCHER.is_file() and os.access(LAUNCHER, os.X_OK)
    # the repository is its own marketplace: /plugin marketplace add <repo>, then /plugin install
    market = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
    assert market["owner"]["name"] and [p["name"] for p in market["plugins"]] == [plugin["name"]]
    assert market["plugins"][0]["source"] == "./"


@pytest.mark.anyio
async def test_mcp_json_starts_the_server(small_pair_dir, tmp_path):
    """Launch exactly what .mcp.json says, as Claude Code would, with the plugin root expanded."""
    config = mcp_config()
    env = dict(os.environ, CLAUDE_PLUGIN_ROOT=str(ROOT))
    command = expand(config["command"], env)
    if not (ROOT / ".venv" / "bin" / "crossmodel-matcher").exists():
        pytest.skip("no .venv/bin/crossmodel-matcher: run `make setup` first")
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


BASE_TOOLS = ("sh", "dirname", "cat", "mkdir", "ln", "rm", "sleep", "setsid", "tail")
"""What the launcher (and the fake tools below) use besides uv or Python."""


def launch(
    tmp_path: Path, path_dirs: list[Path], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess | None:
    """Run the launcher with its own environment folder and only `path_dirs` + BASE_TOOLS on PATH."""
    base = tmp_path / "base"
    base.mkdir(exist_ok=True)
    for tool in BASE_TOOLS:
        if not (base / tool).exists():
            (base / tool).symlink_to(shutil.which(tool))
    env = {
        "PATH": os.pathsep.join([*map(str, path_dirs), str(base)]),
        "CROSSMODEL_MATCHER_ENV": str(tmp_path / "env"),
        "HOME": str(tmp_path),
    }
    command = [str(base / "sh"), str(LAUNCHER), *args]
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # subprocess.run kills the launcher, as a client would
        return None


def fake_tool(folder: Path, name: str, body: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("#!/bin/sh\n" + body)
    (folder / name).chmod(0o755)


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the project is not installed in this venv")
def test_launcher_first_start_syncs_with_uv_then_reuses_the_environment(tmp_path):
    """No environment yet: `uv sync` into it (stdout kept clean), then the console script runs."""
    tools = tmp_path / "tools"
    fake_tool(
        tools,
        "uv",
        'echo "$UV_PROJECT_ENVIRONMENT $*" >> "$HOME/uv-calls"\n'
        f'mkdir -p "$UV_PROJECT_ENVIRONMENT/bin" && ln -sf "{CONSOLE_SCRIPT}" "$UV_PROJECT_ENVIRONMENT/bin/crossmodel-matcher"\n'
        "echo uv-progress\n",
    )
    first = launch(tmp_path, [tools], "--help")
    assert first.returncode == 0, first.stderr
    assert "first start" in first.stderr and "uv-progress" not in first.stdout  # stdout: protocol only
    assert "uv-progress" in (tmp_path / "env.install.log").read_text()
    assert first.stdout.startswith("usage: crossmodel-matcher")
    calls = (tmp_path / "uv-calls").read_text().splitlines()
    assert calls == [f"{tmp_path / 'env'} sync --quiet --no-dev --compile-bytecode --project {ROOT}"]
    second = launch(tmp_path, [tools], "--help")
    assert second.returncode == 0 and "first start" not in second.stderr
    assert len((tmp_path / "uv-calls").read_text().splitlines()) == 1  # reused, no second sync
    (tmp_path / "env" / ".crossmodel-matcher-ready").write_text("/another/plugin/version\n")
    third = launch(tmp_path, [tools], "--help")  # made for another plugin folder: synced again
    assert third.returncode == 0 and "first start" in third.stderr
    assert len((tmp_path / "uv-calls").read_text().splitlines()) == 2


def test_launcher_failed_install_is_redone(tmp_path):
    tools = tmp_path / "tools"
    fake_tool(tools, "uv", 'echo "$*" >> "$HOME/uv-calls"; echo "no network"; exit 3\n')
    for _ in range(2):
        failed = launch(tmp_path, [tools], "--help")
        assert failed.returncode == 1 and failed.stdout == ""
        assert "no network" in failed.stderr  # the install log's tail
        assert "could not make" in failed.stderr and "tries again" in failed.stderr
    assert len((tmp_path / "uv-calls").read_text().splitlines()) == 2
    assert not (tmp_path / "env" / ".crossmodel-matcher-ready").exists()
    assert not (tmp_path / "env.installing").exists()


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the project is not installed in this venv")
def test_launcher_killed_by_a_client_timeout_leaves_the_install_running(tmp_path):
    """A client that gives up on a slow first start kills the launcher; the install finishes."""
    tools = tmp_path / "tools"
    fake_tool(
        tools,
        "uv",
        "sleep 2\n"
        f'mkdir -p "$UV_PROJECT_ENVIRONMENT/bin" && ln -sf "{CONSOLE_SCRIPT}" "$UV_PROJECT_ENVIRONMENT/bin/crossmodel-matcher"\n',
    )
    launch(tmp_path, [tools], "--help", timeout=0.5)  # the "client" gives up after half a second
    ready = tmp_path / "env" / ".crossmodel-matcher-ready"
    assert not ready.exists()
    for _ in range(100):
        if ready.exists():
            break
        time.sleep(0.1)
    assert ready.read_text().strip() == str(ROOT)
    second = launch(tmp_path, [tools], "--help")
    assert second.returncode == 0 and "first start" not in second.stderr


def test_launcher_without_uv_or_python_says_what_it_needs(tmp_path):
    result = launch(tmp_path, [])
    assert result.returncode == 1 and result.stdout == ""
    assert "needs uv or Python 3.11+" in result.stderr


def test_launcher_refuses_an_old_python(tmp_path):
    tools = tmp_path / "tools"
    fake_tool(tools, "python3", 'case "$1" in -V) echo "Python 3.8.10";; *) exit 1;; esac\n')
    result = launch(tmp_path, [tools])
    assert result.returncode == 1
    assert "Python 3.8.10" in result.stderr and "3.11+" in result.stderr
