"""stdio transport that answers malformed frames instead of dropping them silently.

The SDK's stdio reader hands a line it cannot parse to the session as an exception, which
only logs it; a client then waits for an answer that never comes. Here such a line gets a
JSON-RPC error reply (id null): -32700 when it is not JSON, -32600 when it is JSON but not a
JSON-RPC 2.0 message. Everything else is the SDK's `stdio_server` and low-level run loop, fed
by event-loop pipes where the wire allows (server/pipes.py).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import ErrorData, JSONRPCError
from pydantic import ValidationError

from crossmodel_matcher.server.pipes import wire_streams

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def error_reply(exc: Exception) -> SessionMessage:
    """The JSON-RPC error answering an unreadable frame."""
    not_json = isinstance(exc, ValidationError) and any(e["type"] == "json_invalid" for e in exc.errors())
    if not_json or not isinstance(exc, ValidationError):
        error = ErrorData(code=PARSE_ERROR, message="Parse error: the frame is not valid JSON (one JSON-RPC "
                          "message per line)")
    else:
        error = ErrorData(code=INVALID_REQUEST, message="Invalid Request: not a JSON-RPC 2.0 message "
                          "(jsonrpc '2.0', a method, params an object, an integer or string id)")
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=None, error=error))


class ReplyingReadStream:
    """The read side of the transport, answering malformed frames on the write side."""

    def __init__(self, inner: Any, write_stream: Any):
        self.inner, self.write_stream = inner, write_stream

    @property
    def last_context(self) -> Any:
        return getattr(self.inner, "last_context", None)

    async def receive(self) -> Any:
        while True:
            item = await self.inner.receive()
            if not isinstance(item, Exception):
                return item
            await self.write_stream.send(error_reply(item))

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __aiter__(self) -> ReplyingReadStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            item = await self.inner.__anext__()
            if not isinstance(item, Exception):
                return item
            await self.write_stream.send(error_reply(item))

    async def __aenter__(self) -> ReplyingReadStream:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.inner.__aexit__(*exc)


async def run_stdio(server: MCPServer) -> None:
    """`server.run_stdio_async`, with malformed frames answered, reading and writing the wire
    on the event loop where it can (server/pipes.py)."""
    low = server._lowlevel_server  # the SDK's own run_stdio_async uses it the same way
    async with wire_streams() as wire:
        streams = {} if wire is None else {"stdin": wire[0], "stdout": wire[1]}
        async with stdio_server(**streams) as (read_stream, write_stream):
            await low.run(ReplyingReadStream(read_stream, write_stream), write_stream,
                          low.create_initialization_options())
