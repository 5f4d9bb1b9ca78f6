"""The MCPServer subclass at the tool edge: arguments an agent can trust, results passed through.

`CrossmodelServer.call_tool` refuses an unknown tool (its name echoed at most `ECHO_MAX_CHARS`
long, with the tool list) and unknown argument names (a typo such as `topn` is named, with the
valid ones) before the SDK's argument model sees them; `AnswerServer` (server/answers.py) then
words argument errors. `PassThrough` returns a handler's `CallToolResult` as it is: the answer
was shaped, validated against its model and serialised in a worker (`server.runner`), so the
event loop never re-validates or re-dumps a large answer.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from crossmodel_matcher.rules import ECHO_MAX_CHARS
from crossmodel_matcher.server.answers import AnswerServer


def clip(text: str, limit: int = ECHO_MAX_CHARS) -> str:
    """`text` as repr, at most `limit` characters of it (then '...')."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


class PassThrough(MCPServer):
    """Tool calls whose handlers return a finished CallToolResult skip the SDK's conversion."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is None:  # checked by CrossmodelServer first; kept for direct callers
            raise ToolError(f"unknown tool {clip(name)}")
        if context is None:
            context = Context(mcp_server=self, subscriptions=self._subscriptions)
        result = await self._tool_manager.call_tool(name, arguments, context, convert_result=False)
        if isinstance(result, CallToolResult):
            return result
        return tool.fn_metadata.convert_result(result)


class CrossmodelServer(AnswerServer, PassThrough):
    """The server: names checked first, AnswerServer's wording, worker-built results passed through.

    `state()` is the lifespan's ServerState (the matcher and its query runner) once it started.
    """

    state: Any = staticmethod(lambda: None)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is None:
            known = ", ".join(t.name for t in self._tool_manager.list_tools())
            raise ToolError(f"unknown tool {clip(name)}; the tools are: {known}")
        valid = list(tool.parameters.get("properties", {}))
        unknown = [k for k in arguments if k not in valid]
        if unknown:
            names = ", ".join(clip(k) for k in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            takes = ", ".join(valid) if valid else "no arguments"
            raise ToolError(f"{name}: unknown argument {names}; {name} takes {takes}")
        return await super().call_tool(name, arguments, context)
