"""stdin and stdout as event-loop pipes: no thread hop per message.

The SDK's stdio transport reads each line and writes (and flushes) each answer on a worker
thread; three thread hand-offs per call are a fair share of a millisecond answer. Where the
wire is a pipe or socket on a POSIX system (stdout not shared with stderr) and the loop is
asyncio, `wire_streams` serves it from the loop itself (asyncio's pipe transports) and gives the
SDK's `stdio_server` the two streams it reads and writes. Like the SDK, it serves from private copies of fd 0 and 1 and points them
at the null device and at stderr meanwhile, so stray reads get EOF and stray prints miss the
wire; both are restored on exit. Anywhere else it yields None and the SDK's threads serve.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from crossmodel_matcher.rules import STDIO_MAX_LINE_BYTES


def _is_stream(fd: int) -> bool:
    """Whether asyncio's pipe transports should serve `fd`: a pipe or a socket (not a file, and
    not a terminal, whose open file stderr usually shares: the transports make it non-blocking)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _shares_stderr(fd: int) -> bool:
    """Whether `fd` is the same pipe or file as stderr (`2>&1`): making it non-blocking would make
    stderr's writes fail when that pipe is full."""
    try:
        a, b = os.fstat(fd), os.fstat(2)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class LineReader:
    """`async for line in reader`: the wire's lines as text, read on the event loop."""

    def __init__(self, reader: asyncio.StreamReader):
        self.reader = reader

    def __aiter__(self) -> LineReader:
        return self

    async def __anext__(self) -> str:
        line = await self.reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class LineWriter:
    """`await write(text)`, `await flush()`: buffered by the loop's transport; flush waits
    only while the client is not reading (flow control)."""

    def __init__(self, writer: asyncio.StreamWriter):
        self.writer = writer

    async def write(self, text: str) -> None:
        self.writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self.writer.drain()


def _claim() -> tuple[int, int, int, int]:
    """Private copies of fd 0 and 1 for the wire, and copies to restore them from."""
    sys.stdout.flush()
    wire_in, wire_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return wire_in, wire_out, saved_in, saved_out


def _release(saved_in: int, saved_out: int) -> None:
    for saved, fd in ((saved_in, 0), (saved_out, 1)):
        with suppress(OSError):
            os.dup2(saved, fd)
        with suppress(OSError):
            os.close(saved)


@asynccontextmanager
async def wire_streams() -> AsyncIterator[tuple[LineReader, LineWriter] | None]:
    """(reader, writer) over the process's stdin and stdout on the running asyncio loop; None
    where they are not pipes or sockets, stdout is stderr's pipe, or the loop is not asyncio's."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None or os.name != "posix" or not (_is_stream(0) and _is_stream(1)) or _shares_stderr(1):
        yield None
        return
    wire_in, wire_out, saved_in, saved_out = _claim()
    reader = asyncio.StreamReader(limit=STDIO_MAX_LINE_BYTES)
    transports: list[asyncio.BaseTransport] = []
    try:
        rt, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
        )
        transports.append(rt)
        wt, proto = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
        )
        transports.append(wt)
        yield LineReader(reader), LineWriter(asyncio.StreamWriter(wt, proto, None, loop))
    finally:
        for t in transports:
            t.close()
        _release(saved_in, saved_out)
