# Design: MCP glue only. The pair is loaded once (before the transport opens, or in the
# lifespan); every tool is a thin async wrapper that validates its typed arguments, runs one
# matcher query on a worker thread (a CapacityLimiter bounds the threads) and returns the
# core's pydantic report unchanged, so each tool's outputSchema comes from schemas.py.
# Nothing here computes a score. Expected failures (MatcherInputError, bad arguments) become
# a ToolError whose one sentence names the argument and what is valid; anything else is
# logged to stderr and answered with a generic ToolError, and the server keeps serving.
# stdout belongs to the protocol on stdio: every log line goes to stderr. No `from __future__
# import annotations` here: tool signatures are built at run time from the loaded pair (the
# `model` Literal), and the SDK reads them as objects.
"""`crossmodel-matcher serve`: the MCP server (stdio, or streamable HTTP on 127.0.0.1)."""

import argparse
import hmac
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from crossmodel_matcher.figure_tools import register_figures
from crossmodel_matcher.matcher import Matcher, MatcherInputError
from crossmodel_matcher.matcher.decompose import MAX_PARTS
from crossmodel_matcher.matcher.search import MAX_TOP_N, RANK_KEYS
from crossmodel_matcher.pair_loader import PairLoader, PairLoadError
from crossmodel_matcher.pair_source import PAIR_ENV, add_pair_argument, resolve_pair_dir
from crossmodel_matcher.schemas import (
    TOP_K_TOKENS,
    AlignmentSummary,
    ComparisonReport,
    DecompositionReport,
    FeatureSummary,
    MatchReport,
    PairInfo,
    UniqueFeaturesPage,
)
from crossmodel_matcher.store.format import PairFormatError, read_manifest

logger = logging.getLogger("crossmodel_matcher.server")

SERVER_NAME = "mechinterp-crossmodel-matcher"
TOKEN_ENV = "CROSSMODEL_MATCHER_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_THREADS = 4
MAX_OFFSET = 1_000_000
HTTP_PATH = "/mcp"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

INSTRUCTIONS = """\
Match sparse-autoencoder features between a narrow SAE and a wide SAE trained on the same data.
Start with list_models (model names, feature counts, which signals are loaded), then
describe_feature to see what a feature fires on, find_matches to rank its counterparts in the
other model, compare_features to inspect one pair side by side, and find_decomposition to ask
whether a narrow feature is split (refined) or polysemantic (mixed) in the wide model, or which
narrow feature is a wide feature's parent. list_unique_features and pair_alignment cover the whole
pair. Trust `calibrated_band` (it beats a best-of-N null) over the original `overlap_band`.
Every report carries a one-line `reading` and an `evidence_record` for research notes."""

T = TypeVar("T")


# ---- argument types ---------------------------------------------------------------------
def _explained(sentence: str, integer: bool = False) -> WrapValidator:
    """Replace pydantic's error for one argument with an actionable sentence.

    With `integer`, booleans are refused too (pydantic would read true as 1).
    """

    def refuse(value: Any) -> PydanticCustomError:
        got = repr(value)
        got = got if len(got) <= 60 else got[:57] + "..."
        return PydanticCustomError(
            "invalid_argument", "{sentence} (got {got})", {"sentence": sentence, "got": got}
        )

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        if integer and isinstance(value, bool):
            raise refuse(value)
        try:
            return handler(value)
        except ValidationError:
            raise refuse(value) from None

    return WrapValidator(check)


@dataclass(frozen=True)
class PairShape:
    """Model names and feature counts: what the tool signatures are built from."""

    names: tuple[str, ...]
    n_features: dict[str, int]

    @classmethod
    def of_matcher(cls, matcher: Matcher) -> "PairShape":
        models = matcher.pair.models
        return cls(tuple(m.name for m in models), {m.name: m.n_features for m in models})

    @classmethod
    def of_dir(cls, pair_dir: Path) -> "PairShape":
        models = read_manifest(pair_dir).get("models", [])
        try:
            return cls(tuple(m["name"] for m in models), {m["name"]: int(m["n_features"]) for m in models})
        except (KeyError, TypeError, ValueError) as exc:
            raise PairFormatError(f"{pair_dir / 'pair.json'}: field 'models' is malformed ({exc})") from exc

    def ranges(self) -> str:
        return ", ".join(f"0..{self.n_features[n] - 1} for {n!r}" for n in self.names)


@dataclass
class ServerState:
    """What the lifespan yields: the pair's loader and the worker-thread limiter."""

    loader: PairLoader[Matcher]
    limiter: anyio.CapacityLimiter

    @property
    def matcher(self) -> Matcher:
        """The loaded matcher; blocks until the pair is loaded: call it on a worker thread."""
        return self.loader.get()


# ---- server -----------------------------------------------------------------------------
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
        shape, source, load = PairShape.of_matcher(matcher), "the preloaded pair", None
    else:
        shape, source, load = _pair_to_load(pair_dir)

    loaded: dict[str, ServerState] = {}

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[ServerState]:
        # The pair loads on a thread of its own: `initialize` is answered at once, queries wait.
        loader = PairLoader.ready(matcher) if load is None else PairLoader(load, source)
        logger.info("serving %s (feature ids %s)", source, shape.ranges())
        state = loaded["state"] = ServerState(loader, anyio.CapacityLimiter(max_threads))
        yield state

    server = MCPServer(SERVER_NAME, version=_version(), instructions=INSTRUCTIONS, lifespan=lifespan)
    _register(server, shape, lambda: loaded["state"])
    return server


def _pair_to_load(pair_dir: str | Path | None) -> tuple[PairShape, str, Callable[[], Matcher]]:
    """Shape, name and loader of a pair directory, or of the demo pair (built on first use).

    Only the manifest is read here (a bad one fails now); the rest loads on the loader thread.
    """
    if pair_dir is None and not os.environ.get(PAIR_ENV):
        from crossmodel_matcher import demo

        built = demo.demo_pair_dir()
        if not (built / "pair.json").is_file():  # the first start builds it in the background
            shape = PairShape(("full", "ultra"), {"full": demo.N_FULL, "ultra": demo.N_ULTRA})
            return shape, f"the demo pair (building into {built})", lambda: Matcher.from_dir(demo.ensure_demo_pair())
    pair_dir = Path(pair_dir) if pair_dir is not None else resolve_pair_dir(None)
    shape = PairShape.of_dir(pair_dir)

    def load() -> Matcher:
        m = Matcher.from_dir(pair_dir)
        if PairShape.of_matcher(m) != shape:
            raise PairFormatError(f"{pair_dir}: the pair changed on disk while the server started")
        return m

    return shape, str(pair_dir), load


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mechinterp-crossmodel-matcher")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


async def _run(ctx: Context, tool: str, query: Callable[[Matcher], T]) -> T:
    """Run one matcher query off the event loop; map its failures to ToolError."""
    state: ServerState = ctx.request_context.lifespan_context
    try:
        return await anyio.to_thread.run_sync(lambda: query(state.matcher), limiter=state.limiter)
    except (MatcherInputError, PairLoadError) as exc:
        raise ToolError(str(exc)) from None
    except Exception:
        logger.exception("%s failed unexpectedly", tool)
        raise ToolError(
            f"{tool} failed with an internal error (details are in the server's log on stderr); "
            "the server is still running: check the arguments and try again"
        ) from None


def _register(server: MCPServer, shape: PairShape, state: Callable[[], ServerState]) -> None:
    """Register the tools and resources, typed for this pair's models."""
    names = shape.names
    max_id = max(shape.n_features.values()) - 1
    names_text = " or ".join(repr(n) for n in names)
    ModelName = Literal[names]  # type: ignore[valid-type]  # built from the loaded pair

    def feature_arg(arg: str, what: str) -> Any:
        return Annotated[
            int,
            Field(ge=0, le=max_id, description=f"{what}: {shape.ranges()}."),
            _explained(f"{arg} must be an integer feature id: {shape.ranges()}", integer=True),
        ]

    Model = Annotated[
        ModelName,
        Field(description=f"Model the feature belongs to: {names_text}; matches are searched in the other."),
        _explained(f"model must be one of {names_text}"),
    ]
    Feature = feature_arg("feature", "Feature id in `model`")
    SourceFeature = feature_arg("source_feature", "Feature id in `model`")
    TargetFeature = feature_arg("target_feature", "Feature id in the other model")
    TopN = Annotated[
        int,
        Field(ge=1, le=MAX_TOP_N, description=f"How many ranked counterparts to return (1..{MAX_TOP_N})."),
        _explained(f"top_n must be an integer from 1 to {MAX_TOP_N}", integer=True),
    ]
    RankBy = Annotated[
        Literal[RANK_KEYS],  # type: ignore[valid-type]
        Field(description="Score to rank candidates by; match_score (default) uses activations and tokens."),
        _explained(f"rank_by must be one of {', '.join(RANK_KEYS)}"),
    ]
    MaxParts = Annotated[
        int,
        Field(ge=1, le=MAX_PARTS, description=f"Most parts (or parents) to return (1..{MAX_PARTS})."),
        _explained(f"max_parts must be an integer from 1 to {MAX_PARTS}", integer=True),
    ]
    NTokens = Annotated[
        int,
        Field(
            ge=1,
            le=TOP_K_TOKENS,
            description=f"How many top and distinctive tokens to list (1..{TOP_K_TOKENS}).",
        ),
        _explained(f"n_tokens must be an integer from 1 to {TOP_K_TOKENS}", integer=True),
    ]
    other = f"the other model ({names[1]} for {names[0]}, {names[0]} for {names[1]})"

    @server.tool(
        title="Find a feature's counterparts in the other model",
        annotations=READ_ONLY,
        description=(
            f"Rank every feature of {other} as a counterpart of one feature. Each match carries all "
            "evidence (token Jaccard, weighted overlap, activation correlation, containment both ways, "
            "null percentile and best-of-N p-value, calibrated band strong/moderate/weak/chance, typed "
            "relation same/parent/child/part-of-polysemantic/related/none) and a one-line reading; "
            "has_counterpart is false when nothing is a counterpart above chance (the feature is unique "
            "to its model). Use it first when "
            "you know a feature and want its partner."
        ),
    )
    async def find_matches(
        ctx: Context, model: Model, feature: Feature, top_n: TopN = 10, rank_by: RankBy = "match_score"
    ) -> MatchReport:
        return await _run(ctx, "find_matches", lambda m: m.find_matches(model, feature, top_n, rank_by))

    @server.tool(
        title="Compare two features side by side",
        annotations=READ_ONLY,
        description=(
            f"Put one feature of `model` (source_feature) next to one feature of {other} "
            "(target_feature): both summaries, every score, shared / source-only / target-only tokens "
            "and how often each fires without the other. Use it to check a candidate from find_matches."
        ),
    )
    async def compare_features(
        ctx: Context, model: Model, source_feature: SourceFeature, target_feature: TargetFeature
    ) -> ComparisonReport:
        return await _run(
            ctx, "compare_features", lambda m: m.compare_features(model, source_feature, target_feature)
        )

    @server.tool(
        title="Decompose a feature into the other model's features",
        annotations=READ_ONLY,
        description=(
            "Which features of the other model together make up this one. For a narrow feature: the "
            "wide features lying inside it, chosen by non-negative regression of its activations and "
            "grouped into concepts, with R^2 and a verdict: one_to_one, split (refined into children "
            "of one concept), polysemantic (a mixture of unrelated concepts) or no_counterpart. For a "
            "wide feature: its parent(s) in the narrow model and the parent's verdict."
        ),
    )
    async def find_decomposition(
        ctx: Context, model: Model, feature: Feature, max_parts: MaxParts = 12
    ) -> DecompositionReport:
        return await _run(
            ctx, "find_decomposition", lambda m: m.find_decomposition(model, feature, max_parts)
        )

    @server.tool(
        title="List the loaded models",
        annotations=READ_ONLY,
        description=(
            "The loaded model pair: each model's name, feature count, examples, dead features and "
            "signals (tokens, activations, decoder), the vocabulary size and the aligned examples. "
            "Call it first to learn the valid model names and feature ranges."
        ),
    )
    async def list_models(ctx: Context) -> PairInfo:
        return await _run(ctx, "list_models", lambda m: m.info())

    @server.tool(
        title="Describe one feature",
        annotations=READ_ONLY,
        description=(
            "What one feature is: its label if any, firing rate and activation statistics, its "
            "original top tokens (counts in its top-10% examples) and its distinctive tokens "
            "(lift-weighted). Dead features say so."
        ),
    )
    async def describe_feature(
        ctx: Context, model: Model, feature: Feature, n_tokens: NTokens = 20
    ) -> FeatureSummary:
        return await _run(ctx, "describe_feature", lambda m: m.describe_feature(model, feature, n_tokens))

    Offset = Annotated[
        int,
        Field(ge=0, le=MAX_OFFSET, description=f"Index of the first unique feature to return (0..{MAX_OFFSET})."),
        _explained(f"offset must be an integer from 0 to {MAX_OFFSET}", integer=True),
    ]
    Limit = Annotated[
        int,
        Field(ge=1, le=500, description="How many unique features to return on this page (1..500)."),
        _explained("limit must be an integer from 1 to 500", integer=True),
    ]

    @server.tool(
        title="List features with no counterpart",
        annotations=READ_ONLY,
        description=(
            f"Live features of `model` that have no counterpart above chance in {other} (no feature "
            "in a containment relation with them whose co-firing beats the best-of-N null), with their "
            "distinctive tokens, a page at a time (next_offset). feature_ids is ready for cluster analysis."
        ),
    )
    async def list_unique_features(
        ctx: Context, model: Model, offset: Offset = 0, limit: Limit = 50
    ) -> UniqueFeaturesPage:
        return await _run(
            ctx, "list_unique_features", lambda m: m.list_unique_features(model, offset, limit)
        )

    @server.tool(
        title="Summarise the whole pair's alignment",
        annotations=READ_ONLY,
        description=(
            "The pair at a glance, computed once and cached: per model the share of live features "
            "with a `same` counterpart and with any counterpart, unique and dead counts; the narrow "
            "model's decomposition verdicts, the histogram of split sizes and the polysemantic count."
        ),
    )
    async def pair_alignment(ctx: Context) -> AlignmentSummary:
        return await _run(ctx, "pair_alignment", lambda m: m.alignment_summary())

    @server.resource(
        "pair://alignment", name="pair_alignment", title="Model-wide alignment", mime_type="application/json"
    )
    async def alignment_resource() -> str:
        """The pair's alignment summary, as pair_alignment returns it."""
        st = state()
        summary = await anyio.to_thread.run_sync(lambda: st.matcher.alignment_summary(), limiter=st.limiter)
        return summary.model_dump_json(indent=2)

    @server.resource("pair://info", name="pair_info", title="Loaded model pair", mime_type="application/json")
    async def pair_info() -> str:
        """The loaded model pair, as list_models returns it."""
        st = state()
        info = await anyio.to_thread.run_sync(lambda: st.matcher.info(), limiter=st.limiter)
        return info.model_dump_json(indent=2)

    @server.resource(
        "feature://{model}/{feature}",
        name="feature",
        title="One feature's summary",
        mime_type="application/json",
    )
    async def feature_resource(model: str, feature: str) -> str:
        """One feature's summary, as describe_feature returns it (default n_tokens)."""
        if model not in names:
            raise ResourceNotFoundError(f"unknown model {model!r} in the URI: use {names_text}")
        try:
            fid = int(feature)
        except ValueError:
            raise ResourceNotFoundError(
                f"feature {feature!r} in the URI is not an integer: use {shape.ranges()}"
            ) from None
        st = state()
        try:
            summary = await anyio.to_thread.run_sync(
                lambda: st.matcher.describe_feature(model, fid), limiter=st.limiter
            )
        except (MatcherInputError, PairLoadError) as exc:
            raise ResourceNotFoundError(str(exc)) from None
        except Exception:
            logger.exception("feature://%s/%s failed unexpectedly", model, feature)
            raise ResourceError(
                "internal error reading the feature; details are in the server's log"
            ) from None
        return summary.model_dump_json(indent=2)

    register_figures(server, Model, Feature, _run, lambda: state().matcher, lambda: state().limiter)


# ---- HTTP -------------------------------------------------------------------------------
class BearerTokenMiddleware:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str):
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            from starlette.datastructures import Headers
            from starlette.responses import JSONResponse

            scheme, _, given = Headers(scope=scope).get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token):
                response = JSONResponse(
                    {
                        "error": "invalid_token",
                        "error_description": (
                            f"send 'Authorization: Bearer <token>' with the token in ${TOKEN_ENV}"
                        ),
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="crossmodel-matcher"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def transport_security(host: str) -> TransportSecuritySettings:
    """DNS-rebinding protection: loopback Host/Origin always, plus the bound host."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if host not in LOOPBACK_HOSTS and host not in ("0.0.0.0", "::"):
        bracketed = f"[{host}]" if ":" in host else host
        hosts.append(f"{bracketed}:*")
        origins.append(f"http://{bracketed}:*")
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def http_app(server: MCPServer, host: str = DEFAULT_HOST, token: str | None = None) -> Any:
    """The streamable-HTTP ASGI app at /mcp, with Host/Origin checks and the optional token."""
    app = server.streamable_http_app(
        streamable_http_path=HTTP_PATH, transport_security=transport_security(host), host=host
    )
    return BearerTokenMiddleware(app, token) if token else app


async def serve_http(server: MCPServer, sock: socket.socket, host: str, token: str | None) -> None:
    import uvicorn

    config = uvicorn.Config(
        http_app(server, host, token), log_level="warning", access_log=False, lifespan="on"
    )
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    logger.info(
        "listening on http://%s:%d%s (token %s)", shown, port, HTTP_PATH, "required" if token else "off"
    )
    await uvicorn.Server(config).serve(sockets=[sock])


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket up front, so a busy port fails before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


# ---- subcommand ---------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_argument(parser)
    parser.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio (default; for Claude Code and most clients) or streamable HTTP",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"HTTP bind address (default {DEFAULT_HOST}); requests must name it or a "
        "loopback address in their Host header",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--max-threads",
        type=int,
        default=DEFAULT_MAX_THREADS,
        metavar="N",
        help=f"worker threads for queries (default {DEFAULT_MAX_THREADS})",
    )


def configure_logging(level: int = logging.INFO) -> None:
    """Log lines to stderr only (stdout carries the protocol on stdio).

    Leaves logging alone when the host process has already set it up (tests, notebooks).
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("crossmodel_matcher").setLevel(level)


def _fail(message: str) -> int:
    print(f"crossmodel-matcher serve: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Check the arguments and load the pair, then serve until the client goes away."""
    configure_logging()
    if args.max_threads < 1:
        return _fail(f"--max-threads must be at least 1, got {args.max_threads}")
    if not 0 <= args.port <= 65535:
        return _fail(f"--port must be in 0..65535, got {args.port}")
    chosen = args.pair or os.environ.get(PAIR_ENV)
    pair_dir = Path(chosen).expanduser() if chosen else None
    if pair_dir is not None and not pair_dir.is_dir():
        return _fail(f"pair directory {pair_dir} does not exist; pass --pair DIR or set ${PAIR_ENV}")
    try:  # reads the manifest only: the pair itself loads while the transport opens
        server = create_server(pair_dir=pair_dir, max_threads=args.max_threads)
    except PairFormatError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot read the pair in {pair_dir}: {exc}")
    token = os.environ.get(TOKEN_ENV) or None
    sock = None
    if args.transport == "http":
        try:
            sock = bind_socket(args.host, args.port)
        except OSError as exc:
            return _fail(
                f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); choose another --port"
            )
        if args.host not in LOOPBACK_HOSTS and not token:
            logger.warning("listening on %s without a token: set $%s to require one", args.host, TOKEN_ENV)
    try:
        if sock is None:
            anyio.run(server.run_stdio_async)
        else:
            anyio.run(serve_http, server, sock, args.host, token)
    except KeyboardInterrupt:
        pass
    return 0
