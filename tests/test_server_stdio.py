"""Entry points as real subprocesses: the console script over stdio, argument errors, the MCP Inspector."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from crossmodel_matcher.answers import answer
from crossmodel_matcher.cli import main
from tests.server_fixtures import http_server, serve_command, without_timing

pytest_plugins = ["tests.server_fixtures"]  # small_pair_dir, small_matcher, anyio_backend

ROOT = Path(__file__).resolve().parents[1]
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector"
CONSOLE_SCRIPT = Path(sys.executable).parent / "crossmodel-matcher"


# ---- the console script over stdio --------------------------------------------------------------
@pytest.mark.anyio
async def test_console_script_serves_over_stdio(small_pair_dir, small_matcher):
    if not CONSOLE_SCRIPT.exists():
        pytest.skip(f"console script not installed beside {sys.executable}; run `make setup`")
    params = StdioServerParameters(
        command=str(CONSOLE_SCRIPT), args=["serve", "--pair", str(small_pair_dir)], env=dict(os.environ)
    )
    with open(os.devnull, "w") as errlog:
        from mcp.client.stdio import stdio_client

        async with Client(stdio_client(params, errlog=errlog)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == {
                "find_matches",
                "compare_features",
                "find_decomposition",
                "list_models",
                "describe_feature",
                "list_unique_features",
                "pair_alignment",
                "show_figure",
            }
            result = await client.call_tool("find_matches", {"model": "ultra", "feature": 9, "top_n": 3})
            assert not result.is_error
            want = answer(small_matcher.find_matches("ultra", 9, 3))
            assert without_timing(result.structured_content) == without_timing(want)
            bad = await client.call_tool("find_matches", {"model": "ultra", "feature": 24})
            assert bad.is_error and "0..23 for 'ultra'" in bad.content[0].text
            again = await client.call_tool("list_models", {})
            assert again.structured_content == answer(small_matcher.info())


# ---- argument errors: one line on stderr, exit 2, nothing on stdout, before any transport --------
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--pair", "/nonexistent/pair"], "does not exist"),
        (["--pair", "{empty}"], "no pair manifest here"),
        (["--pair", "{pair}", "--max-threads", "0"], "--max-threads must be at least 1"),
        (["--pair", "{pair}", "--transport", "http", "--port", "70000"], "--port must be in 0..65535"),
    ],
)
def test_bad_arguments_exit_2_before_serving(tmp_path, small_pair_dir, capsys, args, fragment):
    args = [a.format(empty=tmp_path, pair=small_pair_dir) for a in args]
    assert main(["serve", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and "error:" in err and fragment in err, err


def test_busy_port_exits_2(small_pair_dir, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc = main(["serve", "--pair", str(small_pair_dir), "--transport", "http", "--port", str(port)])
    assert rc == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_real_process_exits_2_on_a_missing_pair():
    done = subprocess.run(
        serve_command("--pair", "/nonexistent/pair"),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "crossmodel-matcher serve: error: pair directory /nonexistent/pair does not exist; "
        "pass --pair DIR or set $CROSSMODEL_MATCHER_PAIR"
    ]


# ---- the MCP Inspector CLI (pinned in package.json) ---------------------------------------------
needs_inspector = pytest.mark.skipif(
    not INSPECTOR.exists(),
    reason="MCP Inspector not installed: run `npm ci` (or `make setup`) for node_modules/.bin/mcp-inspector",
)


def inspector(tmp_path: Path, target: list[str], *args: str) -> subprocess.CompletedProcess:
    """One Inspector CLI run against `target` (a server command for stdio, or an /mcp URL)."""
    env = dict(os.environ, MCP_CATALOG_PATH=str(tmp_path / "inspector-catalog.json"))
    cmd = [str(INSPECTOR), "--cli", *target, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


INSPECTOR_CALLS = {
    "find_matches": (["model=full", "feature=1", "top_n=3"], lambda m: m.find_matches("full", 1, 3)),
    "compare_features": (
        ["model=full", "source_feature=4", "target_feature=8"],
        lambda m: m.compare_features("full", 4, 8),
    ),
    "find_decomposition": (
        ["model=full", "feature=7", "response_format=detailed"],
        lambda m: answer(m.find_decomposition("full", 7), "detailed"),
    ),
    "list_models": ([], lambda m: m.info()),
    "describe_feature": (
        ["model=ultra", "feature=3", "n_tokens=5"],
        lambda m: m.describe_feature("ultra", 3, 5),
    ),
    "list_unique_features": (["model=ultra", "limit=4"], lambda m: m.list_unique_features("ultra", 0, 4)),
    "pair_alignment": ([], lambda m: m.alignment_summary()),
}
FIGURE_ARGS = ["--method", "tools/call", "--tool-name", "show_figure", "--tool-arg", "kind=overview"]
"""show_figure answers with a caption and a PNG, not structured content: checked on its own."""
BAD_CALL = [
    "--method",
    "tools/call",
    "--tool-name",
    "find_matches",
    "--tool-arg",
    "model=full",
    "--tool-arg",
    "feature=8",
]


def tool_call_args(tool: str) -> list[str]:
    args = ["--method", "tools/call", "--tool-name", tool]
    for pair in INSPECTOR_CALLS[tool][0]:
        args += ["--tool-arg", pair]
    return args


def check_bad_call(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 5, run.stdout + run.stderr  # the Inspector's exit code for isError
    result = json.loads(run.stdout)
    assert result["isError"] is True
    assert "feature=8 is out of range for model 'full': valid ids are 0..7" in result["content"][0]["text"]


@needs_inspector
def test_inspector_over_stdio_and_http(tmp_path, small_pair_dir, small_matcher):
    """tools/list (--strict: schema portability) and a bad call over stdio; every tool over HTTP.

    Over HTTP one server answers every Inspector run, which keeps the test short (each stdio
    run would start a Python server); the runs go in parallel.
    """
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    stdio = serve_command("--pair", str(small_pair_dir))
    with ThreadPoolExecutor(max_workers=4) as pool:
        listed_f = pool.submit(inspector, tmp_path, stdio, "--method", "tools/list", "--strict")
        bad_f = pool.submit(inspector, tmp_path, stdio, *BAD_CALL)
        with http_server(small_pair_dir) as url:
            http = {
                tool: pool.submit(inspector, tmp_path, [url], *tool_call_args(tool))
                for tool in INSPECTOR_CALLS
            }
            http_bad = pool.submit(inspector, tmp_path, [url], *BAD_CALL).result()
            figure = pool.submit(inspector, tmp_path, [url], *FIGURE_ARGS).result()
            http = {tool: f.result() for tool, f in http.items()}
        listed, bad = listed_f.result(), bad_f.result()

    assert listed.returncode == 0, listed.stderr  # --strict exits 6 on schema portability errors
    assert {t["name"] for t in json.loads(listed.stdout)["tools"]} == {*INSPECTOR_CALLS, "show_figure"}
    assert figure.returncode == 0, figure.stdout + figure.stderr
    kinds = [block["type"] for block in json.loads(figure.stdout)["content"]]
    assert kinds == ["text", "image"], kinds
    check_bad_call(bad)
    check_bad_call(http_bad)
    for tool, (_, direct) in INSPECTOR_CALLS.items():
        run = http[tool]
        assert run.returncode == 0, f"{tool}: exit {run.returncode}: {run.stdout} {run.stderr}"
        result = json.loads(run.stdout)
        assert not result.get("isError")
        want = direct(small_matcher)
        want = want if isinstance(want, dict) else answer(want)  # concise unless the call asked
        assert without_timing(result["structuredContent"]) == without_timing(want)
        text = result["content"][0]["text"]  # the same JSON, without indentation
        assert "\n" not in text and json.loads(text) == result["structuredContent"]
