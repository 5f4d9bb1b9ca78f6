"""The MCP server: thin glue over the matcher core (no score is computed here).

The pair is loaded once (before the transport opens, or in the lifespan); tools.py declares the
tools in one table and registers them in a loop; arguments.py types their arguments for the
loaded pair; http.py holds the streamable-HTTP transport. stdout belongs to the protocol on
stdio: every log line goes to stderr. `crossmodel-matcher serve` is `cli/serve.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer

from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_choice import resolve_pair_dir
from crossmodel_matcher.pair_source import open_pair
from crossmodel_matcher.rules import MAX_OFFSET
from crossmodel_matcher.server.answers import AnswerServer
from crossmodel_matcher.server.arguments import PairShape
from crossmodel_matcher.server.tools import READ_ONLY, TOOLS, ServerState, register

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
) -> MCPServer:
    """An MCPServer over one model pair: `matcher` if given, else the pair in `pair_dir`.

    With neither, the pair comes from $CROSSMODEL_MATCHER_PAIR or the demo pair. A pair
    directory is loaded once, in the lifespan; its manifest alone fixes the tool signatures.
    """
    if max_threads < 1:
        raise ValueError(f"max_threads must be >= 1, got {max_threads}")
    if matcher is not None:
        shape = PairShape.of_matcher(matcher)
        source = "the preloaded pair"
    else:
        pair_dir = Path(pair_dir) if pair_dir is not None else resolve_pair_dir(None)
        shape = PairShape.of_dir(pair_dir)
        source = str(pair_dir)

    loaded: dict[str, ServerState] = {}

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[ServerState]:
        m = matcher
        if m is None:
            m = await anyio.to_thread.run_sync(open_pair, pair_dir)
            if PairShape.of_matcher(m) != shape:
                raise PairFormatError(f"{pair_dir}: the pair changed on disk while the server started")
        logger.info("serving %s (feature ids %s)", source, shape.ranges())
        state = loaded["state"] = ServerState(m, anyio.CapacityLimiter(max_threads))
        yield state

    server = AnswerServer(SERVER_NAME, version=_version(), instructions=INSTRUCTIONS, lifespan=lifespan)
    register(server, shape, lambda: loaded["state"])
    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mechinterp-crossmodel-matcher")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"
