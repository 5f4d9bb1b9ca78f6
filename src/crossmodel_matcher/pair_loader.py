"""Load a pair on a background thread, so a server can answer `initialize` at once.

The server starts the loader, opens its transport, and every query waits (on its worker
thread, never on the event loop) until the pair is there. A failed load is kept and raised to
every query that needs the pair, as a `PairLoadError` naming the pair and the cause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from crossmodel_matcher.errors import PairLoadError

T = TypeVar("T")
logger = logging.getLogger("crossmodel_matcher.server")


class PairLoader(Generic[T]):
    """A value made once on a daemon thread; `get()` blocks until it is there."""

    def __init__(self, load: Callable[[], T], what: str):
        self.what = what
        self._value: T | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._load, args=(load,), name="pair-loader", daemon=True)
        self._thread.start()

    @classmethod
    def ready(cls, value: T, what: str = "the preloaded pair") -> PairLoader[T]:
        loader = cls.__new__(cls)
        loader.what, loader._value, loader._error = what, value, None
        loader._done = threading.Event()
        loader._done.set()
        return loader

    def _load(self, load: Callable[[], T]) -> None:
        t0 = time.perf_counter()
        try:
            self._value = load()
            logger.info("loaded %s in %.1f s", self.what, time.perf_counter() - t0)
        except BaseException as exc:  # kept for every later query; the server keeps serving
            self._error = exc
            logger.error("could not load %s: %s", self.what, exc)
        finally:
            self._done.set()

    @property
    def loaded(self) -> bool:
        return self._done.is_set()

    def get(self) -> T:
        """The value, waiting for the load; PairLoadError if it failed."""
        self._done.wait()
        if self._error is not None:
            raise PairLoadError(f"could not load {self.what}: {self._error}") from self._error
        return self._value  # type: ignore[return-value]
