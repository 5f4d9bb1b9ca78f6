"""The streamable-HTTP transport: bearer token, Host/Origin checks, binding, serving."""

from __future__ import annotations

import hmac
import logging
import socket
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

logger = logging.getLogger("crossmodel_matcher.server")

TOKEN_ENV = "CROSSMODEL_MATCHER_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
HTTP_PATH = "/mcp"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


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
    # IPPROTO_TCP explicitly: asyncio turns on TCP_NODELAY only for sockets whose proto says TCP;
    # with proto 0 every answer written in pieces (SSE) waits ~40 ms on delayed ACKs (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
