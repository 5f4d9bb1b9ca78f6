"""Fault suite, the server edge: arguments an agent can trust, timing in metadata, light tools
that never queue behind heavy ones, malformed stdio frames answered, worker processes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from crossmodel_matcher.answers import answer
from crossmodel_matcher.server import create_server
from tests.server_fixtures import serve_command

pytest_plugins = ["tests.server_fixtures"]  # small_pair_dir, small_matcher, anyio_backend


@pytest.fixture
def server(small_matcher):
    return create_server(small_matcher)


@pytest.mark.anyio
async def test_unknown_argument_names_are_refused_with_the_valid_ones(server):
    async with Client(server) as client:
        r = await client.call_tool("find_matches", {"model": "full", "feature": 0, "topn": 3})
    text = r.content[0].text
    assert r.is_error and "unknown argument 'topn'" in text
    assert "model, feature, top_n, rank_by" in text


@pytest.mark.anyio
async def test_unknown_tool_names_are_echoed_short(server):
    async with Client(server) as client:
        r = await client.call_tool("x" * 100_000, {})
        ok = await client.call_tool("list_models", {})
    text = r.content[0].text
    assert r.is_error and "unknown tool 'xxxx" in text and "find_matches" in text
    assert text.count("x") <= 100 and len(text) < 300
    assert not ok.is_error


@pytest.mark.anyio
async def test_the_same_question_gets_byte_identical_reports_and_timing_in_meta(server, small_matcher):
    args = {"model": "full", "feature": 0, "top_n": 5}
    async with Client(server) as client:
        first = await client.call_tool("find_matches", args)
        second = await client.call_tool("find_matches", args)
    assert first.content[0].text == second.content[0].text
    assert first.structured_content == second.structured_content
    assert "elapsed_ms" not in first.structured_content
    assert first.meta["elapsed_ms"] >= 0
    want = answer(small_matcher.find_matches("full", 0, 5), "concise")
    assert first.structured_content == want
    assert json.loads(first.content[0].text) == want


@pytest.mark.anyio
async def test_light_tools_answer_while_every_heavy_thread_is_busy(small_matcher):
    server = create_server(small_matcher, max_threads=1)
    async with Client(server) as client:
        await client.call_tool("list_models", {})  # the lifespan has started: the runner exists
        heavy, holder = server.state().runner.heavy, object()
        await heavy.acquire_on_behalf_of(holder)  # the one heavy thread is taken
        try:
            with anyio.fail_after(10):
                r = await client.call_tool("list_models", {})
                a = await client.call_tool("pair_alignment", {})
            assert not r.is_error and not a.is_error
            with anyio.move_on_after(0.5) as scope:
                await client.call_tool("find_matches", {"model": "full", "feature": 0})
            assert scope.cancelled_caught  # heavy calls do wait for the heavy thread
        finally:
            heavy.release_on_behalf_of(holder)


def test_malformed_stdio_frames_get_an_error_reply_and_the_server_keeps_serving(small_pair_dir):
    frames = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
        "{not json",
        {"jsonrpc": "2.0", "id": 5},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",  # one line far over 64 KB
         "params": {"name": "find_matches", "arguments": {"model": "x" * 200_000, "feature": 0}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "find_matches", "arguments": {"model": "full", "feature": 0, "top_n": 2}}},
    ]
    proc = subprocess.Popen(serve_command("--pair", str(small_pair_dir), "--workers", "1"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for f in frames:
        proc.stdin.write((f if isinstance(f, str) else json.dumps(f)) + "\n")
    proc.stdin.flush()
    replies = []
    while not replies or replies[-1].get("id") != 2:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        replies.append(json.loads(line))
    proc.stdin.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err
    errors = [r for r in replies if "error" in r]
    assert [e["error"]["code"] for e in errors] == [-32700, -32600]
    assert all(e["id"] is None for e in errors)
    call = next(r for r in replies if r.get("id") == 2)["result"]
    assert not call.get("isError") and len(call["structuredContent"]["matches"]) == 2
    assert call["_meta"]["elapsed_ms"] >= 0
    long = next(r for r in replies if r.get("id") == 3)
    text = long["result"]["content"][0]["text"] if "result" in long else long["error"]["message"]
    assert "model" in text and len(text) < 1000  # answered, naming the argument, not echoed whole


def test_stdin_from_a_regular_file_is_served_too(small_pair_dir, tmp_path):
    """A wire that is a file, not a pipe (`serve < requests.jsonl`): the SDK's own reader serves."""
    frames = tmp_path / "frames.jsonl"
    frames.write_text("\n".join([json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}),
        "{not json"]) + "\n")
    with frames.open() as stdin:
        done = subprocess.run(serve_command("--pair", str(small_pair_dir), "--workers", "0"), stdin=stdin,
                              capture_output=True, text=True, timeout=60)
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert replies[0]["id"] == 1 and "serverInfo" in replies[0]["result"]
    assert replies[1]["error"]["code"] == -32700


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_worker_processes_end_when_the_server_is_killed(small_pair_dir):
    proc = subprocess.Popen(serve_command("--pair", str(small_pair_dir), "--workers", "2"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while len(_children(proc.pid)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    workers = _children(proc.pid)
    assert len(workers) == 2
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.time() + 15
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()]


def test_stdout_shared_with_stderr_is_served_too(small_pair_dir):
    """`serve 2>&1`: the wire and the log share one pipe, so the SDK's own threads serve it (the
    event-loop pipes would make the log's writes non-blocking); answers still come, one per line."""
    frame = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
    proc = subprocess.Popen(serve_command("--pair", str(small_pair_dir), "--workers", "0"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc.stdin.write(frame + "\n{not json\n")
    proc.stdin.flush()
    replies = []
    while len(replies) < 2:
        line = proc.stdout.readline()
        assert line, "the server ended before answering"
        if line.startswith("{"):
            replies.append(json.loads(line))
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    assert replies[0]["id"] == 1 and replies[1]["error"]["code"] == -32700
