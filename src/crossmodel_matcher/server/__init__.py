"""The MCP server: thin glue over the matcher core (no score is computed here).

The pair loads once, on a thread of its own while the transport opens (so `initialize` is
answered at once and queries wait for it: pair_loader.py); tools.py declares the
tools in one table and registers them in a loop; arguments.py types their arguments for the
loaded pair; http.py holds the streamable-HTTP transport. stdout belongs to the protocol on
stdio: every log line goes to stderr. `crossmodel-matcher serve` is `cli/serve.py`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from mcp.server.mcpserver import MCPServer

from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_choice import PAIR_ENV, resolve_pair_dir
from crossmodel_matcher.pair_loader import PairLoader
from crossmodel_matcher.pair_source import open_pair
from crossmodel_matcher.rules import MAX_OFFSET
from crossmodel_matcher.server.arguments import PairShape
from crossmodel_matcher.server.guard import CrossmodelServer
from crossmodel_matcher.server.runner import QueryRunner, start_workers
from crossmodel_matcher.server.tools import READ_ONLY, TOOLS, ServerState, register
from crossmodel_matcher.store.format import quick_check

__all__ = ["MAX_OFFSET", "READ_ONLY", "SERVER_NAME", "TOOLS", "create_server"]

logger = logging.getLogger("crossmodel_matcher.server")

SERVER_NAME = "mechinterp-crossmodel-matcher"
DEFAULT_MAX_THREADS = 4

INSTRUCTIONS = """\
Match sparse-autoencoder features between a narrow SAE and a wide SAE trained on the same data.
Start with list_models (model names, feature counts, which signals are loaded), then
describe_feature to see what a feature fires on, find_matches to rank its counterparts in the
other model, compare_features to inspect one pair side by side, and find_decomposition to ask
whether a narrow feature is split (refined) or polysemantic (mixed) in the wide model, or which
narrow feature is a wide feature's parent. list_unique_features and pair_alignment cover the whole
pair. Trust `calibrated_band` (it beats a best-of-N null) over the original `overlap_band`.
Answers are concise by default (response_format="detailed" gives every score and token list,
with an `evidence_record` for research notes); each carries a one-line `reading`."""


def create_server(
    matcher: Matcher | None = None,
    pair_dir: str | Path | None = None,
    *,
    max_threads: int = DEFAULT_MAX_THREADS,
    workers: int = 0,
) -> MCPServer:
    """An MCPServer over one model pair: `matcher` if given, else the pair in `pair_dir`.

    With neither, the pair comes from $CROSSMODEL_MATCHER_PAIR or the demo pair. Only the
    manifest is read here (it fixes the tool signatures; a bad one fails now); the pair itself
    loads on a thread started by the lifespan, and a failed load is each query's tool error.
    Before that, the pair directory gets the checks that need no data read (`quick_check`:
    manifest, layout, sizes, .npy headers, vocabulary and labels), so a damaged pair fails here.
    With `workers` > 0, heavy queries run in that many worker processes forked here (call before
    any event loop or thread starts), each loading the pair (or sharing a preloaded `matcher`).
    """
    if max_threads < 1:
        raise ValueError(f"max_threads must be >= 1, got {max_threads}")
    if matcher is not None:
        shape, source, load = PairShape.of_matcher(matcher), "the preloaded pair", None
        pool = start_workers(workers, matcher=matcher)
    else:
        shape, source, load, ready_dir = _pair_to_load(pair_dir)
        pool = start_workers(workers, pair_dir=ready_dir) if ready_dir is not None else None

    loaded: dict[str, ServerState] = {}

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[ServerState]:
        loader = PairLoader.ready(matcher) if load is None else PairLoader(load, source)
        logger.info("serving %s (feature ids %s)", source, shape.ranges())
        runner = QueryRunner(loader.get, max_threads, pool)
        state = loaded["state"] = ServerState(loader, runner)
        try:
            yield state
        finally:
            runner.close()

    server = CrossmodelServer(SERVER_NAME, version=_version(), instructions=INSTRUCTIONS, lifespan=lifespan)
    register(server, shape, lambda: loaded["state"])
    server.state = lambda: loaded.get("state")
    return server


def _pair_to_load(
    pair_dir: str | Path | None,
) -> tuple[PairShape, str, Callable[[], Matcher], Path | None]:
    """Shape, name, loader and (when it is on disk) folder of a pair directory, or of the demo
    pair; a demo pair not yet built gets its shape from the demo's sizes and is built on the
    loader thread (~1 min)."""
    if pair_dir is None and not os.environ.get(PAIR_ENV):
        from crossmodel_matcher import demo_paths

        if not demo_paths.is_built(demo_paths.demo_pair_dir()):
            from crossmodel_matcher import demo  # the generator: only when the demo must be built

            shape = PairShape(("full", "ultra"), {"full": demo.N_FULL, "ultra": demo.N_ULTRA})
            where = f"the demo pair (first start: building it into {demo_paths.demo_pair_dir()})"
            return shape, where, lambda: _checked(open_pair(demo.ensure_demo_pair()), shape, where), None
    chosen = Path(pair_dir) if pair_dir is not None else resolve_pair_dir(None)
    quick_check(chosen)
    shape = PairShape.of_dir(chosen)
    return shape, str(chosen), lambda: _checked(open_pair(chosen), shape, str(chosen)), chosen


def _checked(matcher: Matcher, shape: PairShape, where: str) -> Matcher:
    if PairShape.of_matcher(matcher) != shape:
        raise PairFormatError(f"{where}: the pair changed on disk while the server started")
    return matcher


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mechinterp-crossmodel-matcher")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"
