# No `from __future__ import annotations`: each handler's signature is built at run time from
# the tool table and the pair's argument types, and the SDK reads it as objects.
"""The tools, declared once in a table, and their registration: one loop, one error mapping.

Each tool runs one matcher query through `runner.QueryRunner` (light tools on their own
threads, heavy ones in worker processes or threads), which also shapes the report for agents
there (answers.py: concise by default, within the size budget; the text block is the same JSON
without indentation) and validates it against the tool's answer model (server/answers.py, which
also gives the small schema tools/list shows); the matcher's time goes into the result's
`_meta`. show_figure answers with content blocks, on the heavy threads.
Expected failures (`CrossmodelError`, bad arguments) become one sentence naming the argument;
anything else is logged to stderr and answered generically, and the server keeps serving.
"""

import functools
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations

from crossmodel_matcher.errors import CrossmodelError
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.pair_loader import PairLoader
from crossmodel_matcher.rules import DEFAULT_MAX_PARTS, DEFAULT_N_TOKENS, DEFAULT_TOP_N, DEFAULT_UNIQUE_LIMIT
from crossmodel_matcher.server.answers import ANSWERS
from crossmodel_matcher.server.arguments import PairShape, argument_types
from crossmodel_matcher.server.figures import FigureBlocks, figure_blocks, register_figure_resources
from crossmodel_matcher.server.runner import QueryRunner

logger = logging.getLogger("crossmodel_matcher.server")

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Tool:
    """One tool: its name, title, description ({other} names the other model), the matcher
    method it calls and its arguments (name, default); its answer model is ANSWERS[name].
    A function of (matcher, arguments) as `method` returns content blocks instead: no output
    schema (show_figure)."""

    name: str
    title: str
    description: str
    method: str | Callable[..., Any]
    args: tuple[tuple[str, Any], ...]


SHAPED = (("response_format", "concise"),)
"""The argument every tool that returns features takes."""


TOOLS = (
    Tool(
        "find_matches", "Find a feature's counterparts in the other model",
        "Rank all features of {other} as counterparts of one feature: relation, calibrated band, "
        "the numbers behind them, shared tokens, a reading; has_counterpart is false when none "
        "beats chance. Use it first.",
        "find_matches",
        (("model", REQUIRED), ("feature", REQUIRED), ("top_n", DEFAULT_TOP_N), ("rank_by", "match_score"))
        + SHAPED,
    ),
    Tool(
        "compare_features", "Compare two features side by side",
        "One feature of `model` (source_feature) beside one (target_feature) or several "
        "(target_features) of {other}: relation, scores, shared / own tokens, lone firings.",
        "compare_many",
        (("model", REQUIRED), ("source_feature", REQUIRED), ("target_feature", None), ("target_features", None))
        + SHAPED,
    ),
    Tool(
        "find_decomposition", "Decompose a feature into the other model's features",
        "Which features of {other} make up this one. Narrow: parts in concept groups, R^2, a "
        "verdict and refinement_ids (wide features inside it beside a same one). Wide: its "
        "parents and siblings.",
        "find_decomposition",
        (("model", REQUIRED), ("feature", REQUIRED), ("max_parts", DEFAULT_MAX_PARTS)) + SHAPED,
    ),
    Tool(
        "list_models", "List the loaded models",
        "The loaded pair: each model's name, feature count, examples, dead features, signals, "
        "labels; aligned examples. Call it first for model names and id ranges.",
        "info", (),
    ),
    Tool(
        "describe_feature", "Describe one feature",
        "One feature: label, firing rate, distinctive tokens (lift-weighted); detailed adds "
        "activation statistics and the original top tokens (its top-10% examples).",
        "describe_feature",
        (("model", REQUIRED), ("feature", REQUIRED), ("n_tokens", DEFAULT_N_TOKENS)) + SHAPED,
    ),
    Tool(
        "list_unique_features", "List features with no counterpart",
        "Live features of `model` with no counterpart above chance in {other}, paged (next_offset), "
        "with distinctive tokens; filter by token, or rank by closeness to a feature of the other "
        "model (near_feature), optionally in one relation.",
        "list_unique_features",
        (("model", REQUIRED), ("offset", 0), ("limit", DEFAULT_UNIQUE_LIMIT), ("near_feature", None),
         ("near_model", None), ("token", None), ("relation", None)) + SHAPED,
    ),
    Tool(
        "pair_alignment", "Summarise the whole pair's alignment",
        "The pair at a glance: per model the share of live features with a `same` or any "
        "counterpart, unique and dead counts; the narrow model's verdicts and split sizes.",
        "alignment_summary", (),
    ),
    Tool(
        "show_figure", "Show a figure",
        "A PNG (800x600, <30 KB) and a caption: containment (a feature's top 20 candidates, "
        "coloured by relation), decomposition (its parts) or overview (whole pair; no model or "
        "feature). To see many at once or show a person.",
        figure_blocks,
        (("kind", REQUIRED), ("model", None), ("feature", None)),
    ),
)


@dataclass
class ServerState:
    """What the lifespan yields: the pair's loader and where queries run."""

    loader: PairLoader[Matcher]
    runner: QueryRunner

    @property
    def matcher(self) -> Matcher:
        """The matcher, waiting until the pair is loaded: only ever read on a worker thread."""
        return self.loader.get()


async def run_query(
    state: ServerState, label: str, query: Callable[[Matcher], Any],
    expected: type[Exception] = ToolError, internal: type[Exception] = ToolError, internal_text: str = "",
    awaited: bool = False,
) -> Any:
    """Run one matcher query off the event loop; expected failures become `expected(message)`,
    anything else is logged and becomes `internal(...)` with a generic sentence."""
    try:
        if awaited:  # `query(state)` is an awaitable that leaves the event loop itself (the runner)
            return await query(state)
        return await anyio.to_thread.run_sync(lambda: query(state.matcher), limiter=state.runner.heavy)
    except CrossmodelError as exc:
        raise expected(str(exc)) from None
    except Exception:
        logger.exception("%s failed unexpectedly", label)
        raise internal(
            internal_text
            or f"{label} failed with an internal error (details are in the server's log on stderr); "
            "the server is still running: check the arguments and try again"
        ) from None


def _handler(tool: Tool, types: dict[str, Any]) -> Callable[..., Any]:
    """An async handler whose signature (ctx, then the tool's typed arguments) the SDK reads."""

    method = tool.method
    if callable(method):  # content blocks (a figure): no answer shaping, no output schema

        async def handler(ctx: Context, **kwargs: Any) -> Any:
            return await run_query(ctx.request_context.lifespan_context, tool.name, lambda m: method(m, **kwargs))

        returns: Any = FigureBlocks
    else:

        async def handler(ctx: Context, **kwargs: Any) -> Any:
            fmt = kwargs.pop("response_format", "concise")
            outcome = await run_query(
                ctx.request_context.lifespan_context, tool.name,
                lambda st: st.runner.run(tool.name, method, kwargs, fmt), awaited=True,
            )
            return CallToolResult(
                content=[TextContent(type="text", text=outcome.text)],
                structured_content=outcome.structured,
                _meta={"elapsed_ms": outcome.elapsed_ms},
            )

        returns = Annotated[CallToolResult, ANSWERS[tool.name]]
    hints = {n: types.get(f"{tool.name}.{n}", types.get(n)) for n, _ in tool.args}
    pos = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("ctx", pos, annotation=Context)]
    params += [inspect.Parameter(n, pos, annotation=hints[n], default=d) for n, d in tool.args]
    handler.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    handler.__annotations__ = {"ctx": Context, **hints, "return": returns}
    handler.__name__ = handler.__qualname__ = tool.name
    return handler


def register(server: MCPServer, shape: PairShape, state: Callable[[], ServerState]) -> None:
    """Register every tool of the table, and the resources, typed for this pair's models."""
    types = argument_types(shape)
    for tool in TOOLS:
        server.tool(
            name=tool.name, title=tool.title, annotations=READ_ONLY,
            description=tool.description.format(other=shape.other),
        )(_handler(tool, types))
    _register_resources(server, shape, state)


def _register_resources(server: MCPServer, shape: PairShape, state: Callable[[], ServerState]) -> None:
    @server.resource(
        "pair://alignment", name="pair_alignment", title="Model-wide alignment", mime_type="application/json"
    )
    async def alignment_resource() -> str:
        """The pair's alignment summary, as pair_alignment returns it."""
        summary = await run_query(state(), "pair://alignment", Matcher.alignment_summary, ResourceError, ResourceError)
        return summary.model_dump_json(indent=2)

    @server.resource("pair://info", name="pair_info", title="Loaded model pair", mime_type="application/json")
    async def pair_info() -> str:
        """The loaded model pair, as list_models returns it."""
        info = await run_query(state(), "pair://info", Matcher.info, ResourceError, ResourceError)
        return info.model_dump_json(indent=2)

    @server.resource(
        "feature://{model}/{feature}",
        name="feature",
        title="One feature's summary",
        mime_type="application/json",
    )
    async def feature_resource(model: str, feature: str) -> str:
        """One feature's summary, as describe_feature returns it (default n_tokens)."""
        if model not in shape.names:
            raise ResourceNotFoundError(f"unknown model {model!r} in the URI: use {shape.names_text}")
        try:
            fid = int(feature)
        except ValueError:
            raise ResourceNotFoundError(
                f"feature {feature!r} in the URI is not an integer: use {shape.ranges()}"
            ) from None
        summary = await run_query(
            state(), f"feature://{model}/{feature}",
            functools.partial(Matcher.describe_feature, model=model, feature=fid),
            expected=ResourceNotFoundError, internal=ResourceError,
            internal_text="internal error reading the feature; details are in the server's log",
        )
        return summary.model_dump_json(indent=2)

    register_figure_resources(server, state, run_query)
