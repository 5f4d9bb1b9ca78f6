"""Latency of light requests (`ping`, `list_models`) over streamable HTTP while heavy calls run.

Starts `crossmodel-matcher serve --transport http` on a free loopback port (the demo pair
unless --pair), then measures `ping` and `list_models` round trips one after another,
first with nothing else running, then with N heavy calls kept in flight
(`find_matches` with the largest valid answer: top_n=100, detailed, ranked by activation
correlation so every candidate is scored). Prints p50/p99/max per phase. The heavy
calls come from a separate client process (niced by 5, so that reading its ~1 MB answers does
not take the probing client's CPU on a small machine), so the probes' latency is the server's,
not the time a client's own event loop spends reading large answers.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_http_load.py [--heavy 8] [--probes 200] [--json PATH]

Target (issue 14): with 8 heavy calls in flight, ping and list_models p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx2

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
HEAVY = {"model": "full", "top_n": 100, "response_format": "detailed", "rank_by": "activation_correlation"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(pair: Path, port: int, threads: int | None, workers: int | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "crossmodel_matcher", "serve", "--transport", "http", "--port", str(port),
           "--pair", str(pair)] + (["--max-threads", str(threads)] if threads else [])
    cmd += ["--workers", str(workers)] if workers is not None else []
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start listening within 120 s")


def parse(resp: httpx2.Response) -> dict:
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        for line in resp.text.splitlines():
            if line.startswith("data: "):
                return json.loads(line[6:])
        raise RuntimeError("empty event stream")
    return resp.json()


class Session:
    def __init__(self, client: httpx2.AsyncClient, url: str):
        self.client, self.url, self.headers, self.next_id = client, url, dict(HEADERS), 0

    async def open(self) -> None:
        r = await self.call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                           "clientInfo": {"name": "bench_http_load", "version": "0"}}, raw=True)
        self.headers["mcp-session-id"] = r.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = "2025-06-18"
        await self.client.post(self.url, headers=self.headers,
                               json={"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def call(self, method: str, params: dict, raw: bool = False):
        self.next_id += 1
        r = await self.client.post(self.url, headers=self.headers,
                                   json={"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        r.raise_for_status()
        if raw:
            return r
        msg = parse(r)
        if "error" in msg or msg.get("result", {}).get("isError"):
            raise RuntimeError(f"{method}: {str(msg)[:300]}")
        return msg, len(r.content)


async def probe(session: Session, n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ping": [], "list_models": []}
    for _ in range(n):
        for name, method, params in (("ping", "ping", {}),
                                     ("list_models", "tools/call", {"name": "list_models", "arguments": {}})):
            t0 = time.perf_counter()
            await session.call(method, params)
            out[name].append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.005)
    return out


async def heavy_worker(session: Session, stop, stats: dict, worker: int) -> None:
    f = worker
    while not stop.is_set():
        t0 = time.perf_counter()
        session.next_id += 1
        frame = {"jsonrpc": "2.0", "id": session.next_id, "method": "tools/call", "params": {
            "name": "find_matches", "arguments": {**HEAVY, "feature": f % 2048}}}
        r = await session.client.post(session.url, headers=session.headers, json=frame)
        r.raise_for_status()
        if b'"isError":true' in r.content or b'"error":' in r.content[:200]:
            raise RuntimeError(f"the heavy call failed: {r.text[:300]}")
        stats["calls"] += 1
        stats["bytes"] = len(r.content)
        stats["ms"].append((time.perf_counter() - t0) * 1000)
        f += 8


def heavy_process(url: str, heavy: int, stop, ready, out) -> None:
    """A separate client process keeping `heavy` find_matches calls in flight until `stop`."""
    os.nice(5)

    async def go() -> dict:
        limits = httpx2.Limits(max_connections=heavy + 2, max_keepalive_connections=heavy + 2)
        async with httpx2.AsyncClient(limits=limits, timeout=300) as client:
            session = Session(client, url)
            await session.open()
            stats = {"calls": 0, "bytes": 0, "ms": []}
            workers = [asyncio.create_task(heavy_worker(session, stop, stats, i)) for i in range(heavy)]
            ready.set()
            await asyncio.gather(*workers)
            return stats

    out.put(asyncio.run(go()))


def summary(samples: list[float]) -> dict:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 2), "p99_ms": round(q[98], 2),
            "max_ms": round(max(samples), 2)}


async def run(url: str, heavy: int, probes: int) -> dict:
    import multiprocessing as mp

    async with httpx2.AsyncClient(timeout=120) as client:
        session = Session(client, url)
        await session.open()
        await probe(session, 10)  # warm-up
        results = {"idle": await probe(session, probes)}
        ctx = mp.get_context("spawn")
        stop, ready, out = ctx.Event(), ctx.Event(), ctx.Queue()
        loader = ctx.Process(target=heavy_process, args=(url, heavy, stop, ready, out), daemon=True)
        loader.start()
        while not ready.is_set():
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # let every heavy call get going
        results[f"{heavy} heavy in flight"] = await probe(session, probes)
        stop.set()
        stats = await asyncio.to_thread(out.get, True, 600)
        loader.join(timeout=30)
    table = {phase: {name: summary(s) for name, s in r.items()} for phase, r in results.items()}
    table["heavy"] = {"calls": stats["calls"], "answer_bytes": stats["bytes"], **summary(stats["ms"])}
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", type=Path, help="pair directory (default: the demo pair)")
    ap.add_argument("--heavy", type=int, default=8)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--max-threads", type=int, default=None, help="passed to serve")
    ap.add_argument("--workers", type=int, default=None, help="passed to serve (0: threads only)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.pair is None:
        from crossmodel_matcher.demo import ensure_demo_pair

        args.pair = ensure_demo_pair()
    port = free_port()
    proc = start_server(args.pair, port, args.max_threads, args.workers)
    try:
        table = asyncio.run(run(f"http://127.0.0.1:{port}/mcp", args.heavy, args.probes))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print(f"{'phase':<22} {'request':<12} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for phase, rows in table.items():
        if phase == "heavy":
            continue
        for name, r in rows.items():
            print(f"{phase:<22} {name:<12} {r['n']:>5} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f}")
    h = table["heavy"]
    print(f"\nheavy find_matches ({HEAVY}, {h['answer_bytes']:,} bytes each): {h['calls']} calls, "
          f"p50 {h['p50_ms']:.0f} ms, p99 {h['p99_ms']:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
