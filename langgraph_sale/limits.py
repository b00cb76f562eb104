"""A cap on model calls in flight, shared by bidders that share a server.

On a 2-core machine one local server answers three calls at once 2-6x slower than one after the other
(docs/feasibility.md §8): the local pool's bidders share one `CallLimiter(1)`. It works across threads (the sync
path) and event loops (the async path) alike, because it is a thread semaphore that async callers poll without blocking
their loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langgraph_sale.errors import require_int

__all__ = ["CallLimiter", "Slot"]

_POLL_S = 0.005


class Slot:
    """One held slot of a `CallLimiter`."""

    def __init__(self, limiter: CallLimiter) -> None:
        self.limiter = limiter
        self.kept = False

    def hold_until(self, future: concurrent.futures.Future[Any]) -> None:
        """Keep the slot after the `with` block ends, until `future` is done (a call abandoned on timeout)."""
        self.kept = True
        future.add_done_callback(lambda _: self.limiter._exit())


class CallLimiter:
    """At most `max_concurrent` calls at once among everyone holding this limiter.

    Args:
        max_concurrent: How many calls may be in flight (>= 1).

    Examples:
        >>> limiter = CallLimiter(1)
        >>> with limiter.slot():
        ...     limiter.in_flight
        1
        >>> limiter.in_flight
        0
    """

    def __init__(self, max_concurrent: int = 1) -> None:
        self.max_concurrent = require_int("max_concurrent", max_concurrent)
        self._semaphore = threading.BoundedSemaphore(max_concurrent)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def _exit(self) -> None:
        with self._lock:
            self.in_flight -= 1
        self._semaphore.release()

    @contextlib.contextmanager
    def slot(self) -> Iterator[Slot]:
        """Hold one slot for the duration of a sync call (`Slot.hold_until` keeps it longer)."""
        self._semaphore.acquire()
        self._enter()
        held = Slot(self)
        try:
            yield held
        finally:
            if not held.kept:
                self._exit()

    @contextlib.asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of an async call, without blocking the event loop while waiting."""
        while not self._semaphore.acquire(blocking=False):
            await asyncio.sleep(_POLL_S)
        self._enter()
        try:
            yield
        finally:
            self._exit()

    def __repr__(self) -> str:
        return f"CallLimiter(max_concurrent={self.max_concurrent})"
