# No `from __future__ import annotations`: each handler's signature is built at run time from
# the tool table and the pair's argument types, and the SDK reads it as objects.
"""The tools, declared once in a table, and their registration: one loop, one error mapping.

Each tool runs one matcher query on a worker thread (a CapacityLimiter bounds the threads) and
answers with the core's report shaped for agents (answers.py: concise by default, within the
size budget; the text block is the same JSON without indentation); its output model and the
small schema tools/list shows come from server/answers.py.
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
from mcp.types import CallToolResult, ToolAnnotations

from crossmodel_matcher.answers import answer
from crossmodel_matcher.errors import CrossmodelError
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.rules import DEFAULT_MAX_PARTS, DEFAULT_N_TOKENS, DEFAULT_TOP_N, DEFAULT_UNIQUE_LIMIT
from crossmodel_matcher.server.answers import ANSWERS, result
from crossmodel_matcher.server.arguments import PairShape, argument_types

logger = logging.getLogger("crossmodel_matcher.server")

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Tool:
    """One tool: its name, title, description ({other} names the other model), the matcher
    method it calls and its arguments (name, default); its answer model is ANSWERS[name]."""

    name: str
    title: str
    description: str
    method: str
    args: tuple[tuple[str, Any], ...]


SHAPED = (("response_format", "concise"),)
"""The argument every tool that returns features takes."""


TOOLS = (
    Tool(
        "find_matches", "Find a feature's counterparts in the other model",
        "Rank every feature of {other} as a counterpart of one feature: relation, calibrated band, "
        "the numbers behind them, shared tokens, a one-line reading; has_counterpart is false when "
        "nothing is a counterpart above chance. Use it first when you know a feature.",
        "find_matches",
        (("model", REQUIRED), ("feature", REQUIRED), ("top_n", DEFAULT_TOP_N), ("rank_by", "match_score"))
        + SHAPED,
    ),
    Tool(
        "compare_features", "Compare two features side by side",
        "Put one feature of `model` (source_feature) next to one feature of {other} (target_feature), "
        "or several (target_features): relation, scores, shared / source-only / target-only tokens, "
        "how often each fires alone. Use it to check candidates.",
        "compare_many",
        (("model", REQUIRED), ("source_feature", REQUIRED), ("target_feature", None), ("target_features", None))
        + SHAPED,
    ),
    Tool(
        "find_decomposition", "Decompose a feature into the other model's features",
        "Which features of the other model make up this one. Narrow feature: the wide features "
        "inside it (non-negative regression, grouped into concepts), R^2 and a verdict: one_to_one, "
        "split (refinements of one concept), polysemantic (unrelated concepts) or no_counterpart. "
        "Wide feature: its parents in the narrow model and their verdict.",
        "find_decomposition",
        (("model", REQUIRED), ("feature", REQUIRED), ("max_parts", DEFAULT_MAX_PARTS)) + SHAPED,
    ),
    Tool(
        "list_models", "List the loaded models",
        "The loaded pair: each model's name, feature count, examples, dead features, signals, "
        "labels; vocabulary and aligned examples. Call it first for model names and id ranges.",
        "info", (),
    ),
    Tool(
        "describe_feature", "Describe one feature",
        "What one feature is: label, firing rate, distinctive tokens (lift-weighted); detailed adds "
        "activation statistics and the original top tokens (counts in its top-10% examples).",
        "describe_feature",
        (("model", REQUIRED), ("feature", REQUIRED), ("n_tokens", DEFAULT_N_TOKENS)) + SHAPED,
    ),
    Tool(
        "list_unique_features", "List features with no counterpart",
        "Live features of `model` with no counterpart above chance in {other}, a page at a time "
        "(next_offset), with their distinctive tokens; filter by a token, or rank them by closeness "
        "to a feature of the other model (near_feature) and keep one relation to it.",
        "list_unique_features",
        (("model", REQUIRED), ("offset", 0), ("limit", DEFAULT_UNIQUE_LIMIT), ("near_feature", None),
         ("near_model", None), ("token", None), ("relation", None)) + SHAPED,
    ),
    Tool(
        "pair_alignment", "Summarise the whole pair's alignment",
        "The pair at a glance (cached): per model the share of live features with a `same` and with "
        "any counterpart, unique and dead counts; the narrow model's verdicts and split sizes.",
        "alignment_summary", (),
    ),
)


@dataclass
class ServerState:
    """What the lifespan yields: the loaded matcher and the worker-thread limiter."""

    matcher: Matcher
    limiter: anyio.CapacityLimiter


async def run_query(
    state: ServerState, label: str, query: Callable[[Matcher], Any],
    expected: type[Exception] = ToolError, internal: type[Exception] = ToolError, internal_text: str = "",
) -> Any:
    """Run one matcher query off the event loop; expected failures become `expected(message)`,
    anything else is logged and becomes `internal(...)` with a generic sentence."""
    try:
        return await anyio.to_thread.run_sync(query, state.matcher, limiter=state.limiter)
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

    async def handler(ctx: Context, **kwargs: Any) -> CallToolResult:
        method, fmt = tool.method, kwargs.pop("response_format", "concise")
        report = await run_query(
            ctx.request_context.lifespan_context, tool.name, lambda m: getattr(m, method)(**kwargs)
        )
        return result(answer(report, fmt))

    returns = Annotated[CallToolResult, ANSWERS[tool.name]]
    pos = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("ctx", pos, annotation=Context)]
    params += [inspect.Parameter(n, pos, annotation=types[n], default=d) for n, d in tool.args]
    handler.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    handler.__annotations__ = {"ctx": Context, **{n: types[n] for n, _ in tool.args}, "return": returns}
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
    def alignment_resource() -> str:
        """The pair's alignment summary, as pair_alignment returns it."""
        return state().matcher.alignment_summary().model_dump_json(indent=2)

    @server.resource("pair://info", name="pair_info", title="Loaded model pair", mime_type="application/json")
    def pair_info() -> str:
        """The loaded model pair, as list_models returns it."""
        return state().matcher.info().model_dump_json(indent=2)

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
