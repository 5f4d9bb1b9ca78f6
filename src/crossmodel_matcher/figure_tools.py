"""MCP glue for figures: the `show_figure` tool and the `figure://` resources.

`show_figure` has no output schema on purpose: clients such as Claude Code hand the model only
`structuredContent` when a result has it and drop its image blocks, so the picture comes in a
result made of content blocks alone (a one-line caption, then the PNG).
"""

import base64
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from crossmodel_matcher.figures.kinds import FIGURE_KINDS, FIGURE_KINDS_DOC
from crossmodel_matcher.matcher import MatcherInputError

logger = logging.getLogger("crossmodel_matcher.server")
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
FIGURE_URI = "figure://{kind}/{model}/{feature}.png"
OVERVIEW_URI = "figure://overview.png"

Kind = Annotated[
    Literal[FIGURE_KINDS],  # type: ignore[valid-type]
    Field(description="; ".join(f"{k}: {doc}" for k, doc in FIGURE_KINDS_DOC.items())),
]


def render_figure(*args: Any) -> Any:
    """figures.views.render_figure, imported on first use (matplotlib stays out of start-up)."""
    from crossmodel_matcher.figures.views import render_figure as render

    return render(*args)


def register_figures(
    server: MCPServer,
    model_type: Any,
    feature_type: Any,
    run: Callable[..., Any],
    matcher: Callable[[], Any],
    limiter: Callable[[], anyio.CapacityLimiter],
) -> None:
    """Register show_figure (via the server's `run`) and the figure resources."""

    @server.tool(
        title="Show a figure",
        annotations=READ_ONLY,
        description=(
            "One picture, 800x600 PNG (12-30 KB), with a one-line caption: containment (a feature's top "
            "20 candidates by how much of each lies in the other, coloured by relation), decomposition "
            "(its parts as stacked shares with their tokens) or overview (the whole pair; model and "
            "feature not needed). Worth it to see the shape of many candidates or parts at once, or to "
            "show a person; for exact numbers and ids call find_matches or find_decomposition."
        ),
    )
    async def show_figure(
        ctx: Context, kind: Kind, model: model_type | None = None, feature: feature_type | None = None
    ) -> list[TextContent | ImageContent]:
        image = await run(ctx, "show_figure", lambda m: render_figure(m, kind, model, feature))
        return [
            TextContent(type="text", text=f"{image.caption} ({image.width}x{image.height} PNG, {len(image.png):,} bytes)"),
            ImageContent(type="image", data=base64.b64encode(image.png).decode("ascii"), mime_type="image/png"),
        ]

    async def png(kind: str, model: str | None, feature: int | None, uri: str) -> bytes:
        try:
            image = await anyio.to_thread.run_sync(
                lambda: render_figure(matcher(), kind, model, feature), limiter=limiter()
            )
        except MatcherInputError as exc:
            raise ResourceNotFoundError(f"{uri}: {exc}") from None
        except Exception:
            logger.exception("%s failed unexpectedly", uri)
            raise ResourceError(f"{uri}: internal error drawing the figure; details are in the server's log") from None
        return image.png

    @server.resource(FIGURE_URI, name="figure", title="A feature's figure (PNG)", mime_type="image/png")
    async def figure_resource(kind: str, model: str, feature: str) -> bytes:
        """containment or decomposition figure of one feature, as show_figure draws it."""
        uri = f"figure://{kind}/{model}/{feature}.png"
        if kind not in FIGURE_KINDS or kind == "overview":
            raise ResourceNotFoundError(f"{uri}: kind must be containment or decomposition (overview: {OVERVIEW_URI})")
        try:
            fid = int(feature)
        except ValueError:
            raise ResourceNotFoundError(f"{uri}: feature {feature!r} is not an integer") from None
        return await png(kind, model, fid, uri)

    @server.resource(OVERVIEW_URI, name="figure_overview", title="The pair at a glance (PNG)", mime_type="image/png")
    async def overview_resource() -> bytes:
        """The whole pair's overview figure, as show_figure(kind="overview") draws it."""
        return await png("overview", None, None, OVERVIEW_URI)
