"""Start-up of the plugin's server command: launch to `initialize` answered, first and warm.

Runs a command (default: the plugin launcher of --root, as .mcp.json runs it) over stdio,
sends `initialize`, and times its answer; then calls list_models to show it serves a pair.
The first run of a clean clone creates the environment; later runs reuse it.

    python benchmarks/bench_plugin_start.py --root /tmp/clone --runs 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}


def _answer(proc: subprocess.Popen, want_id: int, deadline: float) -> dict:
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"server exited (code {proc.poll()}) before answering request {want_id}")
        message = json.loads(line)
        if message.get("id") == want_id:
            return message
    raise TimeoutError(f"no answer to request {want_id}")


def _children_cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_once(command: list[str], env: dict[str, str], timeout: float) -> dict[str, float | str]:
    """One launch: seconds to the initialize answer and to the first tool answer."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    deadline = time.monotonic() + timeout
    try:
        proc.stdin.write(json.dumps(INITIALIZE) + "\n")
        proc.stdin.flush()
        init = _answer(proc, 1, deadline)
        t_init = time.perf_counter() - t0
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_models", "arguments": {}}}
        proc.stdin.write(json.dumps(call) + "\n")
        proc.stdin.flush()
        models = _answer(proc, 2, deadline)
        t_tool = time.perf_counter() - t0
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    names = [m["name"] for m in models["result"]["structuredContent"]["models"]]
    return {
        "cpu_s": _children_cpu() - cpu0,
        "initialize_s": t_init,
        "first_tool_s": t_tool,
        "server": init["result"]["serverInfo"]["name"],
        "models": ",".join(names),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="plugin folder")
    parser.add_argument("--command", nargs="+", help="command to time instead of the plugin launcher")
    parser.add_argument("--runs", type=int, default=5, help="warm starts after the first (default 5)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one start may take")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    command = args.command or ["sh", str(args.root / "scripts" / "plugin-server.sh"), "serve"]
    env = dict(os.environ, CLAUDE_PLUGIN_ROOT=str(args.root))
    runs = [start_once(command, env, args.timeout) for _ in range(args.runs + 1)]
    first, warm = runs[0], runs[1:]
    keys = ("initialize_s", "first_tool_s", "cpu_s")
    rows = [("first start", *(first[k] for k in keys))]
    if warm:
        rows.append((f"warm start (median of {len(warm)})", *(statistics.median(r[k] for r in warm) for k in keys)))
    print(f"command: {' '.join(command)}  (serves {first['models']})")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'':<26} {'initialize answered':>20} {'list_models answered':>21} {'CPU (whole run)':>16}")
    for name, t_init, t_tool, cpu in rows:
        print(f"{name:<26} {t_init:>19.2f}s {t_tool:>20.2f}s {cpu:>15.2f}s")
    if args.json:
        args.json.write_text(json.dumps({"command": command, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
