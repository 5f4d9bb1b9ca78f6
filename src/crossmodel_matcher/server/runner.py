"""Where tool queries run, so the event loop only moves bytes.

Light queries (`list_models`, `pair_alignment`: precomputed answers) run on their own small
thread limiter and never queue behind heavy ones. Heavy queries run in worker processes at a
lower CPU priority, so the event loop keeps the CPU when it needs it and never waits for a
worker's GIL. The workers are forked before any thread starts; each loads the pair itself
(its memory-mapped arrays are shared through the page cache), or shares a preloaded one.
Without workers (tests, in-process servers, `serve --workers 0`) heavy queries run on the heavy
thread limiter, waiting there for the server's own background load. Either way the worker also
shapes the report for agents (`answers.answer_text`), validates it against the tool's answer model
and serialises it (structured content and its compact JSON text); the matcher's time goes into
the result's `_meta`, not into the report: the same question gets byte-identical reports.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from crossmodel_matcher.answers import answer_text
from crossmodel_matcher.matcher import Matcher
from crossmodel_matcher.rules import LIGHT_THREADS, WORKER_NICENESS
from crossmodel_matcher.server.answers import ANSWERS

logger = logging.getLogger("crossmodel_matcher.server")

LIGHT_METHODS = frozenset({"info", "alignment_summary"})
"""Matcher methods that answer from precomputed tables in microseconds."""

_worker_matcher: Matcher | None = None  # the pair, inherited by forked workers


@dataclass(frozen=True)
class Outcome:
    """One answered query: the report as structured content, as JSON text, and its time."""

    structured: dict[str, Any]
    text: str
    elapsed_ms: float


def compute(matcher: Matcher, tool: str, method: str, kwargs: dict[str, Any], fmt: str) -> Outcome:
    """Run one matcher query, shape, check and serialise its answer (in a worker thread or process)."""
    t0 = time.perf_counter()
    report = getattr(matcher, method)(**kwargs)
    elapsed = round((time.perf_counter() - t0) * 1000, 3)
    structured, text = answer_text(report, fmt)
    ANSWERS[tool].model_validate(structured)  # what the SDK would check, done here off the loop
    return Outcome(structured, text, elapsed)


def _in_worker(tool: str, method: str, kwargs: dict[str, Any], fmt: str) -> Outcome:
    assert _worker_matcher is not None, "worker started without a pair"
    return compute(_worker_matcher, tool, method, kwargs, fmt)


def _die_with(parent: int) -> None:
    """End this worker when the server process ends, however it ends (even SIGKILL).

    A pool worker blocks reading its task queue, whose pipe its sibling workers also hold
    open, so it would never see the server go: Linux's PR_SET_PDEATHSIG has the kernel send
    SIGTERM; elsewhere a daemon thread polls for the parent.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGTERM, 0, 0, 0) == 0:  # 1 = PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the server ended before the request took hold
                os._exit(0)
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _init_worker(parent: int, pair_dir: Path | None) -> None:
    """Follow the server out; let go of stdin/stdout (the protocol's, on stdio); lower the CPU
    priority; leave Ctrl-C to the server."""
    _die_with(parent)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # not permitted here: run at the parent's priority
        pass
    if pair_dir is not None:
        global _worker_matcher
        from crossmodel_matcher.pair_source import open_pair

        try:
            _worker_matcher = open_pair(pair_dir)
        except Exception:  # the server's own load reports it; the pool breaks, threads answer
            os._exit(3)


def start_workers(
    processes: int, matcher: Matcher | None = None, pair_dir: Path | None = None
) -> ProcessPoolExecutor | None:
    """Fork `processes` workers sharing `matcher`, or each loading the pair at `pair_dir`; None
    where fork is unavailable. Call before any event loop or thread starts (forking a threaded
    process is unsafe)."""
    global _worker_matcher
    if processes < 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    _worker_matcher = matcher
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                               initializer=_init_worker, initargs=(os.getpid(), pair_dir))
    pool.submit(int, 0)  # forks every worker now (with fork, all at once), while this process has one thread
    return pool


async def _result_of(future: Future, waiters: anyio.CapacityLimiter) -> Outcome:
    """A worker's answer. On asyncio the pool's own result thread wakes the loop directly
    (no thread parked per query: one thread hop fewer); elsewhere a waiter thread blocks on it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # another event loop (trio)
        return await anyio.to_thread.run_sync(future.result, limiter=waiters)
    return await asyncio.shield(asyncio.wrap_future(future))


class QueryRunner:
    """Runs matcher queries off the event loop: light on their own threads, heavy in workers."""

    def __init__(self, matcher: Callable[[], Matcher], max_threads: int, pool: ProcessPoolExecutor | None = None):
        self.matcher = matcher  # waits for the server's own load (called on a worker thread only)
        self.pool = pool
        self.light = anyio.CapacityLimiter(LIGHT_THREADS)
        self.heavy = anyio.CapacityLimiter(max_threads)
        self.waiters = anyio.CapacityLimiter(max(64, max_threads))  # threads parked on a worker's answer

    async def run(self, tool: str, method: str, kwargs: dict[str, Any], fmt: str) -> Outcome:
        args = (tool, method, kwargs, fmt)
        if method in LIGHT_METHODS:
            return await anyio.to_thread.run_sync(lambda: compute(self.matcher(), *args), limiter=self.light)
        if self.pool is not None:
            try:
                future: Future = self.pool.submit(_in_worker, *args)
                return await _result_of(future, self.waiters)
            except BrokenProcessPool:
                logger.warning("query worker processes are gone; answering on threads from now on")
                self.close()
        return await anyio.to_thread.run_sync(lambda: compute(self.matcher(), *args), limiter=self.heavy)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
