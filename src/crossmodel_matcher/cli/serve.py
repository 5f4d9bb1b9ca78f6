"""`crossmodel-matcher serve`: the MCP server on stdio, or streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import anyio

from crossmodel_matcher.cli.errors import fail
from crossmodel_matcher.errors import PairFormatError
from crossmodel_matcher.pair_choice import PAIR_ENV, add_pair_argument
from crossmodel_matcher.rules import MAX_QUERY_WORKERS
from crossmodel_matcher.server import DEFAULT_MAX_THREADS, create_server
from crossmodel_matcher.server.http import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    LOOPBACK_HOSTS,
    TOKEN_ENV,
    bind_socket,
    serve_http,
)
from crossmodel_matcher.server.stdio import run_stdio

logger = logging.getLogger("crossmodel_matcher.server")


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
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"worker processes for heavy queries, at lower CPU priority so light requests stay fast "
        f"(default: CPU cores, at most {MAX_QUERY_WORKERS}; 0 = threads only)",
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
    return fail(message, "serve")


def run(args: argparse.Namespace) -> int:
    """Check the arguments and the pair's manifest, then serve (the pair loads meanwhile)."""
    configure_logging()
    if args.max_threads < 1:
        return _fail(f"--max-threads must be at least 1, got {args.max_threads}")
    workers = min(MAX_QUERY_WORKERS, os.cpu_count() or 1) if args.workers is None else args.workers
    if workers < 0:
        return _fail(f"--workers must be 0 or more, got {args.workers}")
    if not 0 <= args.port <= 65535:
        return _fail(f"--port must be in 0..65535, got {args.port}")
    chosen = args.pair or os.environ.get(PAIR_ENV)
    pair_dir = Path(chosen).expanduser() if chosen else None
    if pair_dir is not None and not pair_dir.is_dir():
        return _fail(f"pair directory {pair_dir} does not exist; pass --pair DIR or set ${PAIR_ENV}")
    try:  # reads the manifest only: the pair loads while the transport opens
        server = create_server(pair_dir=pair_dir, max_threads=args.max_threads, workers=workers)
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
            anyio.run(run_stdio, server)
        else:
            anyio.run(serve_http, server, sock, args.host, token)
    except KeyboardInterrupt:
        pass
    return 0
