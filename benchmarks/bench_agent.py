"""What the tools cost an agent: answer sizes, tools/list, start-up, latency, one research task.

Talks to `python -m crossmodel_matcher serve --pair <demo pair>` over stdio with the MCP Python
SDK client (which validates every structured result against its outputSchema), as an agent's
client would. Sizes are characters; tokens ~ chars / 4.

- token-cost table: every tool at its default arguments and at the maxima its input schema
  allows (each size argument at its `maximum`, each list argument at its `maxItems`), in every
  `response_format` the tool offers; chars of `structuredContent` (compact JSON, what Claude
  Code hands the model) and of the text block (what other clients read);
- tools/list size, and the share of it that is output schemas;
- start-up: launch to the `initialize` answer (raw JSON-RPC, median of --starts launches);
- stdio p50s through the SDK client, and the matcher's in-process find_matches p50;
- the scripted research task on demo feature 7 (what it maps to, its refinements, the unique
  wide features near it), with its call count and tokens. The script uses the filters when the
  server offers them (`near_feature` on list_unique_features) and otherwise does what an agent
  must without them: page through the unique features and compare candidates one by one.

    python benchmarks/bench_agent.py [--calls 50] [--starts 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from bench_server import StdioServer
from mcp import Client, StdioServerParameters

from crossmodel_matcher.demo import ensure_demo_pair

TASK_FEATURE = ("full", 7)
FEATURE_ARGS = ("feature", "source_feature", "target_feature", "near_feature")
TOOL_MODELS = {"list_unique_features": ("full", "ultra")}


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sizes(result: Any) -> dict[str, int]:
    sc = result.structured_content
    text = "".join(getattr(c, "text", "") for c in result.content)
    return {"structured": len(compact(sc)) if sc is not None else 0, "text": len(text)}


def tokens(chars: int) -> int:
    return round(chars / 4)


# ---- argument sets from the input schemas ------------------------------------------------------
def max_args(schema: dict, base: dict, ids: list[int]) -> dict:
    """`base` with every integer size argument at its maximum and every list at maxItems."""
    args = dict(base)
    for name, prop in schema.get("properties", {}).items():
        if name in FEATURE_ARGS or name == "offset":
            continue
        if "integer" in _types(prop) and "maximum" in prop:
            args[name] = prop["maximum"]
        elif "array" in _types(prop) and "maxItems" in prop:
            args[name] = ids[: prop["maxItems"]]
            args.pop(name.removesuffix("s"), None)  # a list instead of its one-id form
    return args


def _types(prop: dict) -> list[str]:
    t = prop.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def formats(schema: dict) -> list[str | None]:
    prop = schema.get("properties", {}).get("response_format")
    return list(prop["enum"]) if prop and "enum" in prop else [None]


def base_args(tool: str, schema: dict, model: str, anchors: dict) -> dict:
    """Required arguments for one call: the anchor feature of `model` and its counterpart."""
    props = schema.get("properties", {})
    other = anchors["other"][model]
    args: dict[str, Any] = {}
    if "model" in props:
        args["model"] = model
    for name in ("feature", "source_feature"):
        if name in props:
            args[name] = anchors["feature"][model]
    if "target_feature" in props:
        args["target_feature"] = anchors["feature"][other]
    for name, prop in props.items():  # a required list of ids (a batch tool)
        if name in schema.get("required", []) and prop.get("type") == "array" and name not in args:
            args[name] = [anchors["feature"][model]]
    return args


# ---- the measurements --------------------------------------------------------------------------
async def token_table(client: Client, tools: dict, anchors: dict) -> list[dict]:
    rows = []
    for name, tool in tools.items():
        schema = tool.input_schema
        models = TOOL_MODELS.get(name, ("full", "ultra")) if "model" in schema.get("properties", {}) else [None]
        for model in models:
            base = base_args(name, schema, model or "full", anchors)
            ids = anchors["ids"][model or "full"]
            for label, args in (("default", base), ("max", max_args(schema, base, ids))):
                if label == "max" and args == base:
                    continue
                for fmt in formats(schema):
                    call = dict(args, **({"response_format": fmt} if fmt else {}))
                    result = await client.call_tool(name, call)
                    if result.is_error:
                        raise RuntimeError(f"{name}{call}: {result.content[0].text}")
                    s = sizes(result)
                    shown = {k: v for k, v in call.items() if not isinstance(v, list)}
                    shown.update({k: f"[{len(v)} ids]" for k, v in call.items() if isinstance(v, list)})
                    rows.append({"tool": name, "model": model, "args": label, "format": fmt or "-",
                                 "call": shown, **s, "truncated": bool((result.structured_content
                                                                        or {}).get("truncated"))})
    return rows


def tools_list_size(listed: Any) -> dict[str, int]:
    dumped = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
    out_schemas = sum(len(compact(t.get("outputSchema", {}))) for t in dumped)
    return {"chars": len(compact({"tools": dumped})), "output_schema_chars": out_schemas,
            "n_tools": len(dumped)}


async def latency(client: Client, tools: dict, anchors: dict, calls: int) -> dict[str, dict]:
    plans = {
        "find_matches full->ultra": ("find_matches", "full"),
        "find_matches ultra->full": ("find_matches", "ultra"),
        "compare_features": ("compare_features", "full"),
        "find_decomposition full": ("find_decomposition", "full"),
        "describe_feature": ("describe_feature", "full"),
    }
    out = {}
    for label, (tool, model) in plans.items():
        schema = tools[tool].input_schema
        for fmt in formats(schema):
            ids = anchors["ids"][model]
            samples = []
            for i in range(calls + 5):
                args = base_args(tool, schema, model, anchors)
                if "feature" in args:
                    args["feature"] = ids[i % len(ids)]
                if fmt:
                    args["response_format"] = fmt
                t0 = time.perf_counter()
                result = await client.call_tool(tool, args)
                if i >= 5:
                    samples.append((time.perf_counter() - t0) * 1000)
                if result.is_error:
                    raise RuntimeError(result.content[0].text)
            out[f"{label}{' ' + fmt if fmt else ''}"] = {"p50_ms": round(statistics.median(samples), 3)}
    return out


async def research_task(client: Client, tools: dict) -> dict:
    """Feature 7 of the demo: counterparts, refinements, unique neighbours; every call counted."""
    log: list[dict] = []
    model, feature = TASK_FEATURE

    async def call(tool: str, args: dict) -> dict:
        result = await client.call_tool(tool, args)
        if result.is_error:
            raise RuntimeError(f"{tool}{args}: {result.content[0].text}")
        log.append({"tool": tool, "args": args, **sizes(result)})
        return result.structured_content

    described = await call("describe_feature", {"model": model, "feature": feature})
    await call("find_matches", {"model": model, "feature": feature})
    decomposition = await call("find_decomposition", {"model": model, "feature": feature})
    unique_props = tools["list_unique_features"].input_schema.get("properties", {})
    if "near_feature" in unique_props:
        await call("list_unique_features",
                   {"model": "ultra", "near_model": model, "near_feature": feature})
        mode = "filters"
    else:  # no filter: the first page of unique features, then candidates one by one
        mode = "one by one"
        tokens_of = {t["token"] for t in described.get("distinctive_tokens", [])[:10]}
        for part in decomposition.get("part_ids", [])[:6]:
            await call("describe_feature", {"model": "ultra", "feature": part})
        page = await call("list_unique_features", {"model": "ultra", "limit": 500})
        shared = {u["feature"]: len(tokens_of & set(u["top_tokens"])) for u in page["features"]}
        for target in sorted(shared, key=lambda u: -shared[u])[:8]:
            await call("compare_features", {"model": model, "source_feature": feature, "target_feature": target})
    s = sum(r["structured"] for r in log)
    t = sum(r["text"] for r in log)
    return {"mode": mode, "calls": len(log), "structured_chars": s, "text_chars": t,
            "structured_tokens": tokens(s), "text_tokens": tokens(t), "log": log}


def startup_times(pair_dir: Path, starts: int, sources: dict[str, str]) -> dict[str, list[float]]:
    """Launch to `initialize` answered, per source tree (label -> its src/ folder, or "" for
    the installed code), launches interleaved so that machine load hits each alike."""
    out: dict[str, list[float]] = {label: [] for label in sources}
    saved = os.environ.get("PYTHONPATH")
    try:
        for _ in range(starts):
            for label, src in sources.items():
                if src:
                    os.environ["PYTHONPATH"] = src
                elif saved is not None:
                    os.environ["PYTHONPATH"] = saved
                t0 = time.perf_counter()
                server = StdioServer(pair_dir)
                out[label].append(round(time.perf_counter() - t0, 3))
                server.close()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    return out


def raw_stdio_p50(pair_dir: Path, anchors_ids: dict, calls: int) -> dict[str, float]:
    """find_matches over stdio without a client library (no result validation): the wire."""
    server = StdioServer(pair_dir)
    out = {}
    try:
        for model in ("full", "ultra"):
            ids = anchors_ids[model]
            samples = []
            for i in range(calls + 5):
                t0 = time.perf_counter()
                server.request("tools/call", {"name": "find_matches",
                                              "arguments": {"model": model, "feature": ids[i % len(ids)]}})
                if i >= 5:
                    samples.append((time.perf_counter() - t0) * 1000)
            out[f"find_matches {model} (default)"] = round(statistics.median(samples), 3)
    finally:
        server.close()
    return out


def in_process_p50(pair_dir: Path, ids: dict, calls: int) -> dict[str, float]:
    """find_matches in-process: the matcher's report, and (when the server shapes answers) the
    concise answer the tool returns, built from it."""
    try:
        from crossmodel_matcher.pair_source import open_pair
    except ImportError:  # before the redesign
        from crossmodel_matcher.matcher import Matcher

        open_pair = Matcher.from_dir

    try:
        from crossmodel_matcher.answers import answer
    except ImportError:  # before answers were shaped
        answer = None
    m = open_pair(pair_dir)
    variants = {"report": lambda mo, f: m.find_matches(mo, f)}
    if answer is not None:
        variants["concise answer"] = lambda mo, f: answer(m.find_matches(mo, f), "concise")
    out = {}
    for label, fn in variants.items():
        for model in ("full", "ultra"):
            for f in ids[model][:5]:
                fn(model, f)
            samples = []
            for i in range(calls):
                t0 = time.perf_counter()
                fn(model, ids[model][i % len(ids[model])])
                samples.append((time.perf_counter() - t0) * 1000)
            out[f"find_matches {model}, {label}"] = round(statistics.median(samples), 3)
    return out


def live_ids(pair_dir: Path, n: int = 40) -> dict[str, list[int]]:
    from crossmodel_matcher.demo import load_truth

    truth = load_truth(pair_dir)
    roles = {"full": ("one_to_one", "split", "polysemantic"), "ultra": ("one_to_one", "child", "component")}
    return {m: [t["feature"] for t in truth[m] if t["role"] in roles[m]][:n] for m in roles}


async def over_stdio(pair_dir: Path, calls: int) -> dict:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "crossmodel_matcher", "serve", "--pair", str(pair_dir)],
        env=dict(os.environ),
    )
    from mcp.client.stdio import stdio_client

    with open(os.devnull, "w") as devnull:
        async with Client(stdio_client(params, errlog=devnull)) as client:
            listed = await client.list_tools()
            tools = {t.name: t for t in listed.tools}
            first = await client.call_tool("find_matches", {"model": "full", "feature": TASK_FEATURE[1]})
            partner = first.structured_content["matches"][0]["target_feature"]
            anchors = {"feature": {"full": TASK_FEATURE[1], "ultra": partner},
                       "other": {"full": "ultra", "ultra": "full"}, "ids": live_ids(pair_dir)}
            return {
                "tools_list": tools_list_size(listed),
                "token_table": await token_table(client, tools, anchors),
                "task": await research_task(client, tools),
                "stdio_p50": await latency(client, tools, anchors, calls),
            }


def print_report(res: dict) -> None:
    tl = res["tools_list"]
    print(f"tools/list: {tl['chars']:,} chars ({tokens(tl['chars']):,} tokens), {tl['n_tools']} tools; "
          f"output schemas {tl['output_schema_chars']:,} chars")
    print(f"\n{'tool':22s} {'model':6s} {'args':8s} {'format':9s} {'structured':>11s} {'tokens':>7s} "
          f"{'text':>9s} {'tokens':>7s}  trunc")
    for r in res["token_table"]:
        print(f"{r['tool']:22s} {r['model'] or '-':6s} {r['args']:8s} {r['format']:9s} "
              f"{r['structured']:11,d} {tokens(r['structured']):7,d} {r['text']:9,d} "
              f"{tokens(r['text']):7,d}  {'yes' if r['truncated'] else ''}")
    worst = max(res["token_table"], key=lambda r: r["structured"])
    print(f"largest structuredContent: {worst['structured']:,} chars ({worst['tool']} {worst['call']})")
    t = res["task"]
    print(f"\nfeature-7 research task ({t['mode']}): {t['calls']} calls, structured {t['structured_chars']:,} "
          f"chars ({t['structured_tokens']:,} tokens), text {t['text_chars']:,} chars "
          f"({t['text_tokens']:,} tokens)")
    for r in t["log"]:
        print(f"  {r['tool']:22s} {compact(r['args'])[:70]:70s} {r['structured']:8,d} {r['text']:8,d}")
    print("\nstart-up, launch to initialize answered (launches interleaved, one round = one of each):")
    mine = res["startup_s"]["this tree"]
    for label, st in res["startup_s"].items():
        ratio = statistics.median(b / a for a, b in zip(mine, st))
        print(f"  {label:40s} median {statistics.median(st):.2f} s, min {min(st):.2f} s, "
              f"median per-round ratio to this tree {ratio:.2f}x; {st}")
    print("stdio p50, raw JSON-RPC (no client validation):")
    for label, ms in res["raw_stdio_p50_ms"].items():
        print(f"  {label:40s} {ms:8.2f} ms")
    print("stdio p50 (SDK client, validates outputSchema):")
    for label, row in res["stdio_p50"].items():
        print(f"  {label:40s} {row['p50_ms']:8.2f} ms")
    print("in-process p50 (Matcher.find_matches, default arguments):")
    for label, ms in res["in_process_p50_ms"].items():
        print(f"  {label:40s} {ms:8.3f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="timed calls per latency row (default 50)")
    parser.add_argument("--starts", type=int, default=5, help="server launches timed (default 5)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--baseline-src", action="append", default=[], metavar="LABEL=DIR",
                        help="also time the start-up of another source tree's server (its src/ folder)")
    args = parser.parse_args(argv)
    pair_dir = ensure_demo_pair()
    res: dict[str, Any] = {"pair": str(pair_dir)}
    sources = {"this tree": ""} | dict(b.split("=", 1) for b in args.baseline_src)
    res["startup_s"] = startup_times(pair_dir, args.starts, sources)
    res["raw_stdio_p50_ms"] = raw_stdio_p50(pair_dir, live_ids(pair_dir), args.calls)
    res.update(anyio.run(over_stdio, pair_dir, args.calls))
    res["in_process_p50_ms"] = in_process_p50(pair_dir, live_ids(pair_dir), max(args.calls, 200))
    print_report(res)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
