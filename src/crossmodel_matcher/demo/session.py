"""The scripted demo session (`crossmodel-matcher demo`): the demo pair, the real server over stdio, every tool, the truth.

Builds the demo pair if needed, starts `python -m crossmodel_matcher serve --pair <dir>` as a
subprocess, and acts as an MCP client: lists the tools, then calls them on a few demo
features picked from the planted truth (`truth.json`: the first one-to-one, split,
polysemantic and unique narrow feature, and a child of the split in the wide model). It
prints what came back (readings, top matches, verdicts, timings) and, for each feature, a
line comparing the answer with what was planted. `--json` prints the raw structured results.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Pick:
    """One demo feature and what the truth file planted for it."""

    title: str
    model: str
    feature: int
    truth: dict
    calls: list[tuple[str, dict]] = field(default_factory=list)


def choose_features(truth: dict) -> list[Pick]:
    """The first planted feature of each kind (by id): no peeking at the matcher's answers."""

    def first(role: str, ok=lambda t: True) -> dict:
        return next(t for t in truth["full"] if t["role"] == role and ok(t))

    one = first("one_to_one")
    split = first("split", lambda t: 3 <= len(t["counterparts"]) <= 6)
    poly = first("polysemantic", lambda t: 2 <= len(t["groups"]) <= 3)
    unique = first("unique")
    child_id = split["counterparts"][0]
    child = truth["ultra"][child_id]
    one_id, split_id, poly_id, unique_id = (t["feature"] for t in (one, split, poly, unique))

    def on(model: str, feature: int, tool: str, **extra: Any) -> tuple[str, dict]:
        return tool, {"model": model, "feature": feature, **extra}

    compare = {"model": "full", "source_feature": one_id, "target_feature": one["counterparts"][0]}
    return [
        Pick("planted one-to-one", "full", one_id, one, [
            on("full", one_id, "describe_feature", n_tokens=6),
            on("full", one_id, "find_matches", top_n=5),
            ("compare_features", compare),
            on("full", one_id, "find_decomposition"),
        ]),
        Pick("planted split", "full", split_id, split, [
            on("full", split_id, "find_matches", top_n=8),
            on("full", split_id, "find_decomposition"),
        ]),
        Pick("planted polysemantic", "full", poly_id, poly, [on("full", poly_id, "find_decomposition")]),
        Pick("planted unique to full", "full", unique_id, unique, [
            on("full", unique_id, "find_matches", top_n=3),
            on("full", unique_id, "find_decomposition"),
        ]),
        Pick(f"planted child of full {split_id}", "ultra", child_id, child, [
            on("ultra", child_id, "describe_feature", n_tokens=6),
            on("ultra", child_id, "find_decomposition"),
        ]),
    ]


# ---- comparing answers with the truth ---------------------------------------------------------
def truth_line(pick: Pick, results: dict[str, dict]) -> tuple[str, bool]:
    """One line: what was planted, what came back, and whether they agree."""
    role = pick.truth["role"]
    dec = results.get("find_decomposition")
    matches = results.get("find_matches")
    if role == "one_to_one" and "counterparts" in pick.truth:
        partner = pick.truth["counterparts"][0]
        ranked = [m["target_feature"] for m in matches["matches"]]
        rank = ranked.index(partner) + 1 if partner in ranked else None
        ok = rank == 1 and dec["verdict"] == "one_to_one"
        return (
            f"planted partner ultra {partner}: ranked #{rank or '-'} by find_matches, "
            f"decomposition verdict {dec['verdict']}"
        ), ok
    if role in ("split", "polysemantic"):
        planted = set(pick.truth["counterparts"])
        found = set(dec["part_ids"])
        ok = dec["verdict"] == role and len(found & planted) >= max(1, len(planted) // 2)
        return (
            f"planted {role} into {len(planted)} ultra features {sorted(planted)}: verdict "
            f"{dec['verdict']}, {len(found & planted)}/{len(planted)} recovered, "
            f"{len(found - planted)} extra"
        ), ok
    if role == "unique":
        ok = matches["has_counterpart"] is False and dec["verdict"] == "no_counterpart"
        return (
            f"planted with no counterpart: has_counterpart={matches['has_counterpart']}, "
            f"verdict {dec['verdict']}"
        ), ok
    parents = pick.truth.get("parents", [])
    found = dec.get("parent_ids") or dec.get("part_ids") or []
    want = {"child": "split", "component": "polysemantic", "one_to_one": "one_to_one"}.get(role)
    ok = bool(found) and found[0] in parents and dec["verdict"] == want
    return (
        f"planted {role} of full {parents} (verdict should be {want}): find_decomposition "
        f"named {found or 'none'}, verdict {dec['verdict']}"
    ), ok


# ---- printing ---------------------------------------------------------------------------------
def _tokens(items: list, n: int = 6) -> str:
    """Token names of a token list (concise answers give names, detailed ones objects)."""
    return ", ".join(t["token"] if isinstance(t, dict) else t for t in items[:n]) or "-"


def describe(tool: str, r: dict) -> list[str]:
    """A few readable lines for one structured result."""
    if tool == "list_models":
        return [
            f"{m['name']}: {m['n_features']:,} features, {m['n_examples']:,} examples, "
            f"{m['n_dead']:,} dead; signals {', '.join(m['signals'])}"
            for m in r["models"]
        ] + [f"{r['n_aligned_examples']:,} aligned examples, vocabulary {r['vocab_size']:,}"]
    if tool == "describe_feature":
        state = "dead" if r["dead"] else f"fires on {r['firing_rate']:.2%} of examples"
        label = f" label {r['label']!r};" if r.get("label") else ""
        return [f"{state};{label} distinctive tokens: {_tokens(r['distinctive_tokens'])}"]
    if tool == "find_matches":
        lines = [r["reading"]]
        for rank, m in enumerate(r["matches"][:5], start=1):
            lines.append(
                f"  #{rank} {r['target_model']} {m['target_feature']:>5}: match {m['match_score']:.2f}, "
                f"band {m['calibrated_band']}, relation {m['relation']}; shared {_tokens(m['shared_tokens'], 3)}"
            )
        return lines
    if tool == "compare_features":
        return [
            r["reading"],
            f"shared tokens: {_tokens(r['shared_tokens'])}; "
            f"{r['source_model']}-only: {_tokens(r['source_only_tokens'], 3)}; "
            f"{r['target_model']}-only: {_tokens(r['target_only_tokens'], 3)}",
        ]
    if tool == "find_decomposition":
        lines = [r["reading"]]
        for p in (r.get("parts") or r.get("parents") or [])[:6]:
            lines.append(
                f"  {r['other_model']} {p['feature']:>5} (group {p['group']}, {p['relation']}, "
                f"band {p['calibrated_band']}): {_tokens(p['distinctive_tokens'], 4)}"
            )
        return lines
    if tool == "pair_alignment":
        lines = [
            f"{m['model']}: {m['share_with_counterpart']:.0%} of {m['n_live']:,} live features have a "
            f"counterpart ({m['share_with_same']:.0%} the same feature), {m['n_unique']:,} unique, "
            f"{m['n_dead']:,} dead"
            for m in r["models"]
        ]
        lines.append(f"narrow verdicts {r['verdict_counts']}; split sizes {r['split_size_histogram']}")
        return lines
    if tool == "list_unique_features":
        return [f"{r['total']:,} unique features in {r['model']}; first: "] + [
            f"  {f['feature']:>5}: {_tokens(f['distinctive_tokens'], 5)}" for f in r["features"]
        ]
    return [json.dumps(r)[:200]]


def _timing(core: float | None, round_trip_ms: float) -> str:
    """The round trip, and the matcher's own time from the result's metadata (`_meta`)."""
    return f"{round_trip_ms:.1f} ms" + (f", core {core:.1f} ms" if core is not None else "")


# ---- the session --------------------------------------------------------------------------------
class _Session:
    """One client session: calls a tool, records it, prints what came back."""

    def __init__(self, client: Any, as_json: bool):
        self.client = client
        self.say = (lambda *a: None) if as_json else print
        self.record: list[dict[str, Any]] = []
        self.core_ms: float | None = None

    async def call(self, tool: str, args: dict) -> tuple[dict | None, str, float]:
        t = time.perf_counter()
        result = await self.client.call_tool(tool, args)
        ms = (time.perf_counter() - t) * 1000
        self.core_ms = (result.meta or {}).get("elapsed_ms")
        text = result.content[0].text if result.content else ""
        self.record.append(
            {
                "tool": tool,
                "arguments": args,
                "round_trip_ms": round(ms, 3),
                "is_error": bool(result.is_error),
                "result": None if result.is_error else result.structured_content,
                **({"error": text} if result.is_error else {}),
            }
        )
        return (None if result.is_error else result.structured_content), text, ms

    async def show(self, tool: str, args: dict, heading: str) -> dict | None:
        result, text, ms = await self.call(tool, args)
        self.say(f"\n{heading} ({_timing(self.core_ms, ms)})")
        for line in describe(tool, result) if result else [text]:
            self.say(f"  {line}")
        return result

    async def overview(self) -> None:
        await self.show("list_models", {}, "list_models")
        result = await self.show("pair_alignment", {}, "pair_alignment")
        narrow = min(result["models"], key=lambda m: m["n_features"])["model"] if result else "full"
        await self.show(
            "list_unique_features", {"model": narrow, "limit": 5}, f"list_unique_features model={narrow} limit=5"
        )

    async def check(self, pick: Pick) -> bool:
        """Call a pick's tools, print the answers and whether they agree with the truth."""
        concept = pick.truth.get("concept") or "-"
        self.say(f"\n== {pick.model} {pick.feature}: {pick.title} (concept: {concept})")
        results = {}
        for tool, args in pick.calls:
            result, text, ms = await self.call(tool, args)
            self.say(f"  {tool} ({_timing(self.core_ms, ms)})")
            if result is None:
                self.say(f"    error: {text}")
                continue
            results[tool] = result
            for line in describe(tool, result):
                self.say(f"    {line}")
        try:
            line, ok = truth_line(pick, results)
        except (KeyError, TypeError, ValueError) as exc:
            line, ok = f"could not compare with the truth ({exc!r})", False
        self.say(f"  truth: {line} -> {'AGREES' if ok else 'DIFFERS'}")
        return ok

    async def bad_call(self) -> None:
        bad_args = {"model": "full", "feature": 999999}
        _, text, ms = await self.call("find_matches", bad_args)
        self.say(
            f"\nA bad call, find_matches{bad_args} ({ms:.1f} ms) comes back as an error the agent can act on:"
        )
        for line in text.splitlines():
            self.say(f"  {line}")


async def session(pair_dir: Path, picks: list[Pick], as_json: bool) -> int:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "crossmodel_matcher", "serve", "--pair", str(pair_dir)],
        env=dict(os.environ),
    )
    t0 = time.perf_counter()
    async with Client(stdio_client(params, errlog=sys.stderr)) as client:
        s = _Session(client, as_json)
        tools = (await client.list_tools()).tools
        info = client.server_info
        s.say(
            f"Server {info.name if info else '?'} {info.version if info else ''} over stdio, ready in "
            f"{time.perf_counter() - t0:.1f} s; pair {pair_dir}"
        )
        s.say("Tools: " + "; ".join(f"{t.name} ({t.title})" for t in tools))
        s.say(
            "Timings: round trip through the Python SDK client (which also re-validates each result "
            "against its outputSchema); core = the matcher's own time inside the server."
        )
        await s.overview()
        agreed = 0
        for pick in picks:
            agreed += await s.check(pick)
        await s.bad_call()
    s.say(
        f"\n{agreed}/{len(picks)} demo features agree with the planted truth "
        "(benchmarks/bench_core.py scores every feature)."
    )
    if as_json:
        print(json.dumps({"pair": str(pair_dir), "calls": s.record}, indent=2))
    return 0

