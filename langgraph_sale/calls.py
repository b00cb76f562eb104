"""How the auction calls a model: output capped, kept out of the messages stream, with a timeout and an optional
concurrency cap, for both the async and the sync path of a node.

LangGraph's own node `timeout=` refuses sync execution (docs/langgraph-notes.md §1 #1), so bids and jury calls
bound their own time: `asyncio.wait_for` on the async path, a worker thread with a bounded wait on the sync one. A
timeout raises `BidTimeoutError`, which LangGraph's default `RetryPolicy` retries. The timeout counts from the moment
the call holds its slot of the `CallLimiter`, not while it queues for one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.constants import TAG_NOSTREAM

from langgraph_sale.errors import BidTimeoutError
from langgraph_sale.limits import CallLimiter

__all__ = ["with_token_cap", "auction_call", "invoke_bounded", "ainvoke_bounded"]

_CAP_FIELDS = ("num_predict", "max_tokens", "max_output_tokens", "max_new_tokens")


def with_token_cap(model: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """A copy of `model` whose output is capped at `max_tokens`, via whichever cap field the integration has.

    `ChatOpenAI` has `max_tokens`, `ChatOllama` `num_predict`; a model with neither is returned unchanged and
    bounded only by the prompt's word budget. A smaller cap already set on the model is kept.

    Examples:
        >>> from langchain_openai import ChatOpenAI
        >>> capped = with_token_cap(ChatOpenAI(model="m", api_key="x", base_url="http://127.0.0.1:9/v1"), 64)
        >>> capped.max_tokens
        64
    """
    fields = type(model).model_fields
    for name in _CAP_FIELDS:
        if name in fields:
            current = getattr(model, name, None)
            if isinstance(current, int) and 0 < current <= max_tokens:
                return model
            return model.model_copy(update={name: max_tokens})
    return model


def auction_call(model: BaseChatModel, max_tokens: int, *, stop: Sequence[str] = (), grammar: str | None = None,
                 top_logprobs: int | None = None) -> Runnable[Any, Any]:
    """The model as the auction calls it: output capped, stopped at `stop` (where given), constrained by a
    llama.cpp `grammar` and asked for `top_logprobs` alternatives a token (where given: both are request fields of
    an OpenAI-compatible llama-server, given only to a `Bidder(grammar=True)`), and tagged so
    `stream_mode="messages"` skips it.

    Bids and jury answers are bookkeeping, not chat output: LangGraph's messages stream (what Studio and chat UIs
    show) leaves out model calls tagged `nostream`; only the winner's execution streams.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> auction_call(ScriptedChatModel(), 64).config["tags"]
        ['nostream']
    """
    capped: Runnable[Any, Any] = with_token_cap(model, max_tokens)
    if grammar is not None:
        capped = capped.bind(extra_body={"grammar": grammar})
    if top_logprobs is not None:
        capped = capped.bind(top_logprobs=top_logprobs)
    if stop:
        capped = capped.bind(stop=list(stop))
    return capped.with_config(tags=[TAG_NOSTREAM])


def invoke_bounded(
    runnable: Runnable[Any, Any],
    value: Any,
    *,
    timeout: float | None,
    who: str,
    limiter: CallLimiter | None = None,
    config: RunnableConfig | None = None,
) -> tuple[Any, float]:
    """Call `runnable.invoke(value, config)`, raising `BidTimeoutError` after `timeout` seconds.

    Returns:
        The result and the seconds the call took once it held its limiter slot (queueing excluded).

    The call runs in a worker thread with a copy of the caller's context, so LangGraph's callbacks (streaming,
    tracing) still see it. A call that times out is abandoned, not killed (Python cannot stop a thread): it keeps
    its limiter slot until it really ends, so a server is never handed more calls than the cap.

    Examples:
        >>> from langchain_core.runnables import Runnable, RunnableLambda
        >>> invoke_bounded(RunnableLambda(lambda x: x + 1), 1, timeout=5, who="adder")[0]
        2
    """
    with limiter.slot() if limiter is not None else contextlib.nullcontext() as slot:
        started = time.perf_counter()
        if timeout is None:
            return runnable.invoke(value, config), time.perf_counter() - started
        future = _start_daemon_call(runnable, value, who, config)
        try:
            return future.result(timeout=timeout), time.perf_counter() - started
        except concurrent.futures.TimeoutError as err:
            if slot is not None:
                # Hand the slot over to the abandoned call: it is released when that call ends.
                slot.hold_until(future)
            raise BidTimeoutError(who, timeout) from err


class _DaemonWorkers:
    """A small reusable pool of daemon worker threads for bounded sync calls.

    Not a ThreadPoolExecutor: its threads are joined at interpreter exit, so an abandoned call that never returns
    would hold the exit up. These threads are daemons, and the pool is unbounded: a call never queues behind an
    abandoned one (a new worker starts when none is idle), as with one thread per call. What it saves is the start
    of a fresh thread for each of the auction's 20-odd calls per run; idle workers exit after `idle_s`.

    Invariant, under `_lock`: `_idle` = workers waiting on the queue - items in the queue (never negative).
    """

    def __init__(self, idle_s: float = 30.0) -> None:
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._idle = 0
        self._queue: queue.SimpleQueue[tuple[Callable[[], None], str]] = queue.SimpleQueue()

    def submit(self, work: Callable[[], None], name: str) -> None:
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1  # an idle worker takes this item
        self._queue.put((work, name))
        if spawn:
            threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                work, name = self._queue.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # more waiting workers than queued items: this one may go
                        self._idle -= 1
                        return
                continue  # an item was handed to this worker as it timed out: take it
            threading.current_thread().name = name
            work()
            with self._lock:
                self._idle += 1

    def reset(self) -> None:
        # After fork only the forking thread survives: the child's pool must not count the parent's workers.
        self._lock = threading.Lock()
        self._idle = 0
        self._queue = queue.SimpleQueue()


_WORKERS = _DaemonWorkers()
_timeout_scope: Any = getattr(asyncio, "timeout", None)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WORKERS.reset)


def _start_daemon_call(runnable: Runnable[Any, Any], value: Any, who: str, config: RunnableConfig | None
                       ) -> concurrent.futures.Future[Any]:
    # On a daemon worker, not a ThreadPoolExecutor: an abandoned call that never returns must not hold up the
    # interpreter's exit (executor threads are joined at exit).
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(context.run(runnable.invoke, value, config))
        except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
            future.set_exception(error)

    _WORKERS.submit(work, f"sale-{who}")
    return future


async def ainvoke_bounded(
    runnable: Runnable[Any, Any],
    value: Any,
    *,
    timeout: float | None,
    who: str,
    limiter: CallLimiter | None = None,
    config: RunnableConfig | None = None,
) -> tuple[Any, float]:
    """Await `runnable.ainvoke(value, config)`, raising `BidTimeoutError` after `timeout` seconds (then cancelled).

    Returns:
        The result and the seconds the call took once it held its limiter slot (queueing excluded).

    Examples:
        >>> import asyncio
        >>> from langchain_core.runnables import Runnable, RunnableLambda
        >>> asyncio.run(ainvoke_bounded(RunnableLambda(lambda x: x * 2), 3, timeout=5, who="doubler"))[0]
        6
    """
    async with limiter.aslot() if limiter is not None else contextlib.nullcontext():
        started = time.perf_counter()
        if timeout is None:
            return await runnable.ainvoke(value, config), time.perf_counter() - started
        try:
            if _timeout_scope is not None:
                # A deadline on this task (Python 3.11+), rather than `wait_for`'s extra task per call.
                async with _timeout_scope(timeout):
                    return await runnable.ainvoke(value, config), time.perf_counter() - started
            return await asyncio.wait_for(runnable.ainvoke(value, config), timeout), time.perf_counter() - started
        except asyncio.TimeoutError as err:
            raise BidTimeoutError(who, timeout) from err
