"""Round-trip latency of every MCP tool over stdio, on the demo pair.

Starts `python -m crossmodel_matcher serve --pair <demo pair>` as a subprocess and talks
newline-delimited JSON-RPC to it directly (the wire round trip: client write, server parse,
validate, query, serialise, client read; no client-side schema validation). With --sdk it
also times the official Python SDK client (`mcp.Client` over stdio), which re-validates each
structured result against the tool's outputSchema with jsonschema: that is client cost.
Queries cycle over live demo features taken from truth.json.

    python benchmarks/bench_server.py [--calls 200] [--warmup 20] [--sdk] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from crossmodel_matcher.demo import ensure_demo_pair, load_truth

PROTOCOL_VERSION = "2025-06-18"


def query_plan(pair_dir: Path, n_features: int = 40) -> dict[str, list[dict]]:
    """Arguments for each benchmarked call: cycles over live, non-dead demo features."""
    truth = load_truth(pair_dir)
    full = [t["feature"] for t in truth["full"] if t["role"] in ("one_to_one", "split", "polysemantic")]
    ultra = [t["feature"] for t in truth["ultra"] if t["role"] in ("one_to_one", "child", "component")]
    pairs = [(t["feature"], t["counterparts"][0]) for t in truth["full"] if t["counterparts"]]
    full, ultra, pairs = full[:n_features], ultra[:n_features], pairs[:n_features]
    return {
        "list_models": [{}],
        "describe_feature": [{"model": "full", "feature": f} for f in full],
        "find_matches full->ultra": [{"model": "full", "feature": f} for f in full],
        "find_matches ultra->full": [{"model": "ultra", "feature": f} for f in ultra],
        "compare_features": [{"model": "full", "source_feature": a, "target_feature": b} for a, b in pairs],
        "find_decomposition full": [{"model": "full", "feature": f} for f in full],
        "find_decomposition ultra": [{"model": "ultra", "feature": f} for f in ultra],
    }


class StdioServer:
    """A server subprocess spoken to in raw newline-delimited JSON-RPC."""

    def __init__(self, pair_dir: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crossmodel_matcher", "serve", "--pair", str(pair_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.next_id = 0
        t0 = time.perf_counter()
        self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bench_server", "version": "0"},
            },
        )
        self.startup_s = time.perf_counter() - t0
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg: dict) -> None:
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the server closed stdout; run it by hand to see its stderr")
            msg = json.loads(line)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {
        "p50_ms": round(statistics.median(samples_ms), 3),
        "p95_ms": round(q[94], 3),
        "min_ms": round(min(samples_ms), 3),
        "n": len(samples_ms),
    }


def bench_raw(pair_dir: Path, plan: dict, calls: int, warmup: int) -> tuple[dict, float]:
    server = StdioServer(pair_dir)
    out = {}
    try:
        for label, arg_list in plan.items():
            tool = label.split()[0]
            samples = []
            for i in range(warmup + calls):
                args = arg_list[i % len(arg_list)]
                t0 = time.perf_counter()
                result = server.request("tools/call", {"name": tool, "arguments": args})
                dt = (time.perf_counter() - t0) * 1000
                if result.get("isError"):
                    raise RuntimeError(f"{tool}{args}: {result['content'][0]['text']}")
                core_ms = result.get("_meta", {}).get("elapsed_ms")
                if i >= warmup:
                    samples.append((dt, core_ms))
            row = percentiles([s[0] for s in samples])
            cores = [s[1] for s in samples if s[1] is not None]
            row["core_p50_ms"] = round(statistics.median(cores), 3) if cores else None
            out[label] = row
    finally:
        server.close()
    return out, server.startup_s


def bench_sdk(pair_dir: Path, plan: dict, calls: int, warmup: int) -> dict:
    import anyio
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "crossmodel_matcher", "serve", "--pair", str(pair_dir)],
        env=dict(os.environ),
    )
    out = {}

    async def main() -> None:
        with open(os.devnull, "w") as devnull:
            from mcp.client.stdio import stdio_client

            async with Client(stdio_client(params, errlog=devnull)) as client:
                await client.list_tools()
                for label, arg_list in plan.items():
                    tool = label.split()[0]
                    samples = []
                    for i in range(warmup + calls):
                        t0 = time.perf_counter()
                        result = await client.call_tool(tool, arg_list[i % len(arg_list)])
                        if result.is_error:
                            raise RuntimeError(result.content[0].text)
                        if i >= warmup:
                            samples.append((time.perf_counter() - t0) * 1000)
                    out[label] = percentiles(samples)

    anyio.run(main)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per tool (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first (default 20)")
    parser.add_argument("--sdk", action="store_true", help="also time the Python SDK client")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)

    pair_dir = ensure_demo_pair()
    plan = query_plan(pair_dir)
    raw, startup_s = bench_raw(pair_dir, plan, args.calls, args.warmup)
    sdk = bench_sdk(pair_dir, plan, args.calls, args.warmup) if args.sdk else {}

    print(
        f"stdio round trip, demo pair {pair_dir.name}: {args.calls} calls per tool after "
        f"{args.warmup} warm-up; server start to initialized {startup_s:.2f} s"
    )
    head = f"{'tool':28s} {'p50 ms':>8s} {'p95 ms':>8s} {'min ms':>8s} {'core p50':>9s}"
    head += f" {'SDK p50':>8s} {'SDK p95':>8s}" if sdk else ""
    print(head)
    for label, row in raw.items():
        line = (
            f"{label:28s} {row['p50_ms']:8.2f} {row['p95_ms']:8.2f} {row['min_ms']:8.2f} "
            f"{row['core_p50_ms'] if row['core_p50_ms'] is not None else float('nan'):9.2f}"
        )
        if sdk:
            line += f" {sdk[label]['p50_ms']:8.2f} {sdk[label]['p95_ms']:8.2f}"
        print(line)
    print("core p50 = the matcher's own time (the result's _meta.elapsed_ms); the rest is MCP + JSON + pipe.")
    if sdk:
        print("SDK = mcp.Client over stdio, which also validates every result against its outputSchema.")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "pair": str(pair_dir),
                    "calls": args.calls,
                    "warmup": args.warmup,
                    "startup_s": round(startup_s, 3),
                    "raw_stdio": raw,
                    "sdk_client": sdk,
                },
                indent=2,
            )
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
