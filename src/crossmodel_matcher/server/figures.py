"""The figure tool's result and the `figure://` resources (glue: the drawing is in figures/).

`show_figure` has no output schema on purpose: clients such as Claude Code hand the model only
`structuredContent` when a result has it and drop its image blocks, so the picture comes in a
result made of content blocks alone (a one-line caption, then the PNG). matplotlib is imported
on the first figure, not at start-up.
"""

import base64
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import ImageContent, TextContent

from crossmodel_matcher.figures.kinds import FIGURE_KINDS

FIGURE_URI = "figure://{kind}/{model}/{feature}.png"
OVERVIEW_URI = "figure://overview.png"
FigureBlocks = list[TextContent | ImageContent]


def render(matcher: Any, kind: str, model: str | None, feature: int | None) -> Any:
    from crossmodel_matcher.figures.views import render_figure

    return render_figure(matcher, kind, model, feature)


def figure_blocks(matcher: Any, kind: str, model: str | None = None, feature: int | None = None) -> FigureBlocks:
    """show_figure's result: the caption (with the PNG's size), then the PNG."""
    image = render(matcher, kind, model, feature)
    caption = f"{image.caption} ({image.width}x{image.height} PNG, {len(image.png):,} bytes)"
    return [
        TextContent(type="text", text=caption),
        ImageContent(type="image", data=base64.b64encode(image.png).decode("ascii"), mime_type="image/png"),
    ]


def register_figure_resources(server: MCPServer, state: Callable[[], Any], run_query: Callable[..., Any]) -> None:
    """figure://{kind}/{model}/{feature}.png and figure://overview.png (image/png blobs)."""

    async def png(uri: str, kind: str, model: str | None = None, feature: int | None = None) -> bytes:
        image = await run_query(
            state(), uri, lambda m: render(m, kind, model, feature),
            expected=ResourceNotFoundError, internal=ResourceError,
            internal_text=f"{uri}: internal error drawing the figure; details are in the server's log",
        )  # fmt: skip
        return image.png

    @server.resource(FIGURE_URI, name="figure", title="A feature's figure (PNG)", mime_type="image/png")
    async def figure_resource(kind: str, model: str, feature: str) -> bytes:
        """A feature's containment or decomposition figure, as show_figure draws it."""
        uri = f"figure://{kind}/{model}/{feature}.png"
        if kind not in FIGURE_KINDS or kind == "overview":
            raise ResourceNotFoundError(f"{uri}: kind must be containment or decomposition (overview: {OVERVIEW_URI})")
        try:
            fid = int(feature)
        except ValueError:
            raise ResourceNotFoundError(f"{uri}: feature {feature!r} is not an integer") from None
        return await png(uri, kind, model, fid)

    @server.resource(OVERVIEW_URI, name="figure_overview", title="The pair at a glance (PNG)", mime_type="image/png")
    async def overview_resource() -> bytes:
        """The whole pair's overview figure, as show_figure(kind="overview") draws it."""
        return await png(OVERVIEW_URI, "overview")
