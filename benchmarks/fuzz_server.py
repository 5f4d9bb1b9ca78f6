"""Fuzz the MCP server over stdio: random and adversarial calls, one server for all of them.

    PYTHONPATH=src .venv/bin/python benchmarks/fuzz_server.py [--calls 10000] [--seed 14] [--pair DIR] [--json PATH]

Talks raw newline-delimited JSON-RPC to `crossmodel-matcher serve` (a generated 64 x 256
pair unless --pair) and sends `--calls` requests: valid calls, wrong types, 10**30, NaN
and infinities, 1 MB strings, 100,000-id lists, unknown tools (100,000-character names),
unknown or misspelt argument names, missing arguments, and now and then a malformed frame
(not JSON, a JSON array, no method, a wrong jsonrpc version). Counts:

- deaths: the server process exited; hangs: no answer within --timeout seconds;
- protocol errors: an answer that is not JSON-RPC 2.0 with the request's id;
- leaks: "Traceback", a `File "..."` frame or a machine path in any answer;
- schema misses: a successful result whose structuredContent fails the tool's outputSchema;
- echo: the most characters of an unknown tool name echoed back (target <= 100);
- typo misses: a call with an unknown argument name that succeeded (it must be refused);
- frame replies: malformed frames that got an error reply (the rest got none).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import queue
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LEAK = re.compile(r"Traceback|File \"|/work/|/home/|/root/|/tmp/|site-packages|\.py\b")
WEIRD = [None, True, False, -1, 0, 2**31, 10**30, -(10**30), 1.5, "NaN", "Infinity", float("nan"),
         float("inf"), "", "x" * 1_000_000, "full; DROP TABLE", "\u0000\ud7ff", [], {}, [1, 2], {"a": 1},
         list(range(100_000)), "0", " 3", "ultra ", "FULL"]


class Server:
    def __init__(self, pair: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "crossmodel_matcher", "serve", "--pair", str(pair)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, raw: bytes) -> None:
        self.proc.stdin.write(raw + b"\n")
        self.proc.stdin.flush()

    def answer(self, want_id, timeout: float) -> tuple[str, bytes | None]:
        """('ok', line) for the reply with want_id; ('none', None) when the stream went quiet."""
        deadline = time.time() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                return "hang", None
            if line is None:
                return "dead", None
            try:
                msg = json.loads(line)
            except ValueError:
                return "protocol", line
            if isinstance(msg, dict) and "method" in msg and "id" not in msg:
                continue  # a notification (log message)
            if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or msg.get("id") != want_id:
                if isinstance(msg, dict) and want_id is None:
                    return "ok", line
                return "protocol", line
            return "ok", line


def tool_args(rng: random.Random, tools: dict) -> tuple[str, dict, str]:
    """(tool name, arguments, kind) for one fuzzed call."""
    kind = rng.choices(["valid", "weird", "unknown_arg", "missing", "unknown_tool"], [4, 4, 1, 1, 1])[0]
    if kind == "unknown_tool":
        return rng.choice(["nope", "find_match", "x" * 100_000, "list_models\u0000"]), {}, kind
    name = rng.choice(sorted(tools))
    props = tools[name]["inputSchema"].get("properties", {})
    args = {k: valid_value(rng, spec) for k, spec in props.items() if rng.random() < 0.8}
    if kind == "weird" and props:
        args[rng.choice(sorted(props))] = rng.choice(WEIRD)
    elif kind == "unknown_arg":
        args[rng.choice(["topn", "feature_id", "Model", "x" * 200])] = 3
    elif kind == "missing" and props:
        args.pop(rng.choice(sorted(props)), None)
    return name, args, kind


def valid_value(rng: random.Random, spec: dict):
    if "enum" in spec:
        return rng.choice(spec["enum"])
    if spec.get("type") == "integer":
        return rng.randint(spec.get("minimum", 0), min(spec.get("maximum", 50), 400))
    if "anyOf" in spec:
        return valid_value(rng, spec["anyOf"][0])
    return "full"


MALFORMED = [b"{not json", b"[1, 2, 3]", b'{"jsonrpc": "2.0", "id": 5}', b'{"jsonrpc": "1.0", "id": 6, "method": "ping"}',
             b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": "x"}', b"\xff\xfe", b"null",
             b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}']


def generated_pair(folder: Path) -> Path:
    from crossmodel_matcher.cli import main as cli_main
    from tests.kill_helper import make_inputs

    models = make_inputs(folder / "inputs", n_examples=4000, widths=(64, 256))
    out = folder / "pair"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli_main(["build", "--quiet", "--out", str(out)] + [a for m in models for a in ("--model", m)]) == 0
    return out


def initialize(server: Server, timeout: float) -> dict:
    server.send(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "0"}}}).encode())
    assert server.answer(0, timeout)[0] == "ok"
    server.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
    server.send(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}')
    status, line = server.answer(1, timeout)
    return {t["name"]: t for t in json.loads(line)["result"]["tools"]}


def echoed(name: str, message: str) -> int:
    """How many leading characters of `name` the message repeats (binary search)."""
    lo, hi = 0, len(name)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if name[:mid] in message else (lo, mid - 1)
    return lo


def check(result: dict, tool: dict | None, kind: str, counts: dict, validator, name: str = "") -> None:
    text = json.dumps(result)
    if LEAK.search(text):
        counts["leaks"] += 1
        counts["leak_examples"].append(text[:200])
    if "error" in result:
        return
    res = result.get("result", {})
    if res.get("isError"):
        msg = res["content"][0]["text"] if res.get("content") else ""
        if kind == "unknown_tool":
            counts["echo_max"] = max(counts["echo_max"], echoed(name, msg))
        return
    if kind == "unknown_arg":
        counts["typo_misses"] += 1
    if tool is not None and tool.get("outputSchema"):
        try:
            validator(res.get("structuredContent"), tool["outputSchema"])
        except Exception as exc:  # jsonschema.ValidationError
            counts["schema_misses"] += 1
            counts["schema_examples"].append(str(exc)[:200])


def run(pair: Path, calls: int, seed: int, timeout: float) -> dict:
    import jsonschema

    rng = random.Random(seed)
    server = Server(pair)
    counts = {"calls": 0, "deaths": 0, "hangs": 0, "protocol": 0, "leaks": 0, "schema_misses": 0,
              "typo_misses": 0, "echo_max": 0, "frames": 0, "frame_replies": 0, "kinds": {},
              "leak_examples": [], "schema_examples": [], "seconds": 0.0}
    t0 = time.perf_counter()
    tools = initialize(server, 60)
    for i in range(calls):
        rid = 100 + i
        if rng.random() < 0.02:
            counts["frames"] += 1
            server.send(rng.choice(MALFORMED))
            status, line = server.answer(None, 0.5)
            if status == "ok":
                counts["frame_replies"] += 1
            elif status == "dead":
                counts["deaths"] += 1
                break
            continue
        name, args, kind = tool_args(rng, tools)
        counts["kinds"][kind] = counts["kinds"].get(kind, 0) + 1
        frame = {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": name, "arguments": args}}
        server.send(json.dumps(frame, allow_nan=True).encode())
        status, line = server.answer(rid, timeout)
        counts["calls"] += 1
        if status == "ok":
            check(json.loads(line), tools.get(name), kind, counts, jsonschema.validate, name)
        elif status == "protocol":
            counts["protocol"] += 1
        else:
            counts["deaths" if status == "dead" else "hangs"] += 1
            if status == "dead":
                break
    counts["seconds"] = round(time.perf_counter() - t0, 1)
    alive = server.proc.poll() is None
    server.proc.stdin.close()
    server.proc.wait(timeout=30)
    counts["alive_at_end"] = alive
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds before a call counts as a hang")
    ap.add_argument("--pair", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        pair = args.pair or generated_pair(Path(tmp))
        c = run(pair, args.calls, args.seed, args.timeout)
    print(f"{'measure':<40} {'value':>10}")
    for key, label in (("calls", "tool calls answered or lost"), ("deaths", "server deaths"), ("hangs", "hangs"),
                       ("protocol", "protocol errors"), ("leaks", "tracebacks / paths in answers"),
                       ("schema_misses", "results failing outputSchema"), ("typo_misses", "unknown argument accepted"),
                       ("echo_max", "longest unknown tool name echoed (chars)"), ("frames", "malformed frames sent"),
                       ("frame_replies", "malformed frames answered"), ("seconds", "seconds")):
        print(f"{label:<40} {c[key]:>10}")
    print(f"kinds: {c['kinds']}; server alive at the end: {c['alive_at_end']}")
    for ex in (c["leak_examples"] + c["schema_examples"])[:5]:
        print("  example:", ex)
    if args.json:
        args.json.write_text(json.dumps(c, indent=2))
    bad = c["deaths"] or c["hangs"] or c["protocol"] or c["leaks"] or c["schema_misses"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
