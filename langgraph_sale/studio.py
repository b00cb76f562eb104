"""Graphs for LangGraph Studio and `langgraph dev` (see `langgraph.json` at the repository root).

- `auction` and `decide_auction` run on the scripted fake pool, whose calls take a little time so the phases can be
  watched in Studio. They build at import with no checkpointer and no store (the server brings its own persistence
  and refuses graphs that carry either), and no API key or network.
- `pool_auction` runs on the pool a pool file describes (`langgraph_sale.poolfile`): the file the environment
  variable `LANGGRAPH_SALE_POOL` names, else the local pool's (`langgraph_sale/pools/local.toml`). A graph factory
  like `local_auction`: only a run starts the local server, and only where a bidder of the file needs it.
- `local_auction` runs on the three real local models (`langgraph_sale.local`). It is a graph factory: importing
  this module starts nothing; the server calls the factory per request, and only a run (not a schema or drawing
  request) starts or reuses the `llama-server` router, in a worker thread. A router it started is stopped by a
  watchdog once the server process is gone. Without the pool the run fails with `PoolNotInstalledError`, whose
  message names the install command; the other graphs are unaffected.

Every graph writes each auction to the server's store through `AuctionMemory` (the fake pool under
`("langgraph_sale", "auctions", "shared")`, the local pool under `("langgraph_sale", "local_auctions", "shared")`, so
the two pools never recall each other's auctions), and the outbid round recalls from it. `embeddings` is the store
index's embedder in `langgraph.json` (`HashingEmbeddings`: no model, no network).

Examples:
    >>> from langgraph_sale import studio
    >>> {"bid", "judge", "score", "recall", "execute_small"} <= set(studio.auction.get_graph().nodes)
    True
    >>> studio.auction.checkpointer is None and studio.auction.store is None
    True
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph_sdk.runtime import ServerRuntime

from langgraph_sale.bidder import Bidder
from langgraph_sale.calls import with_token_cap
from langgraph_sale.errors import AuctionConfigError, require_int
from langgraph_sale.graph import DEFAULT_MAX_BID_TOKENS, create_auction
from langgraph_sale.memory import AuctionMemory
from langgraph_sale.testing import HashingEmbeddings, fake_pool

if TYPE_CHECKING:
    from langgraph_sale.local import LocalServer

__all__ = ["auction", "decide_auction", "user_auction", "USER_NAMESPACE",
           "local_auction", "build_local_auction", "embeddings", "EMBED_DIMS",
           "LOCAL_NAMESPACE", "pool_auction", "build_pool_auction", "POOL_NAMESPACE"]

_LATENCY_S = 0.05

EMBED_DIMS = 256
"""Dimensions of the store index (`store.index.dims` in `langgraph.json` must match)."""

embeddings = HashingEmbeddings(dims=EMBED_DIMS)
"""The store index's embedder for `langgraph dev` (`"embed": "./langgraph_sale/studio.py:embeddings"`)."""

LOCAL_NAMESPACE: tuple[str, ...] = ("langgraph_sale", "local_auctions")
"""Where the local pool's auctions are remembered (the fake pool's go under the default namespace)."""

auction = create_auction(fake_pool(latency_s=_LATENCY_S), memory=AuctionMemory()).compile(name="auction")
"""The full auction on the fake pool: bids, jury, scores, the outbid round, and the winner's execution."""

decide_auction = create_auction(fake_pool(latency_s=_LATENCY_S), memory=AuctionMemory(),
                                route="decide").compile(name="decide_auction")
"""The decision only (route="decide"): bids, jury, scores and the winner, for a host graph to route on."""

USER_NAMESPACE: tuple[str, ...] = ("langgraph_sale", "user_auctions")
"""Where `user_auction` remembers each user's auctions, one namespace per `user_id`."""

user_auction = create_auction(fake_pool(latency_s=_LATENCY_S),
                              memory=AuctionMemory(namespace=USER_NAMESPACE, scope_key="user_id")
                              ).compile(name="user_auction")
"""The auction with a memory per user: every run carries `context={"user_id": ...}` (or the configurable key), and
a user's auctions are never recalled for another."""

# ---- the local pool, built lazily ------------------------------------------------------------------------------
_PLACEHOLDER_URL = "http://127.0.0.1:9/v1"
"""The URL of the graph the server draws and reads schemas from: its bidders never call it."""

_lock = threading.Lock()
_server_lock = threading.Lock()
_bidders: dict[str, list[Bidder]] = {}
_graphs: dict[tuple[str, int, bool | int, int | None], CompiledStateGraph[Any, Any, Any, Any]] = {}
_started: list[LocalServer] = []


def build_local_auction(
    base_url: str = _PLACEHOLDER_URL,
    *,
    max_bid_tokens: int = DEFAULT_MAX_BID_TOKENS,
    jury: bool | int = True,
    max_answer_tokens: int | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The auction on the local pool's three models behind `base_url` (an OpenAI-compatible `.../v1` URL).

    Built once per URL and options, then reused: the bidders of one URL share one `CallLimiter`, so concurrent
    runs still make one model call at a time. Building connects to nothing.

    Args:
        base_url: The `llama-server` router (`LocalServer().openai_url`); the default is a placeholder for drawing.
        max_bid_tokens: Output cap of a bid.
        jury: As `create_auction(jury=...)`: True, False or a juror count (the graph's nodes are the same).
        max_answer_tokens: Output cap of every model call, the winner's execution included (None: the server's
            own limit); bids and jury answers keep their smaller caps.

    Raises:
        AuctionConfigError: On an invalid option.
        PoolNotInstalledError: When `langchain-openai` (the `openai` extra) is missing.

    Examples:
        >>> graph = build_local_auction()
        >>> sorted(n for n in graph.get_graph().nodes if n.startswith("execute_"))
        ['execute_qwen_coder_0_5b', 'execute_qwen_coder_1_5b', 'execute_smollm2_135m']
    """
    require_int("max_bid_tokens", max_bid_tokens)
    if not isinstance(jury, (bool, int)):
        raise AuctionConfigError("jury", f"must be True, False or a juror count, got {jury!r}")
    if max_answer_tokens is not None:
        require_int("max_answer_tokens", max_answer_tokens)
    key = (base_url, max_bid_tokens, jury, max_answer_tokens)
    with _lock:
        graph = _graphs.get(key)
        if graph is None:
            bidders = _local_bidders(base_url)
            if max_answer_tokens is not None:
                bidders = [_capped(bidder, max_answer_tokens) for bidder in bidders]
            graph = create_auction(bidders, memory=AuctionMemory(namespace=LOCAL_NAMESPACE),
                                   max_bid_tokens=max_bid_tokens, jury=jury).compile(name="local_auction")
            _graphs[key] = graph
        return graph


def _capped(bidder: Bidder, max_tokens: int) -> Bidder:
    """The bidder with its model's output capped; same name, price, tools and (shared) limiter."""
    return Bidder(bidder.name, with_token_cap(bidder.model, max_tokens), bidder.pricing, agent=bidder.agent,
                  tools=bidder.tools, description=bidder.description, tool_calling=bidder.tool_calling,
                  limiter=bidder.limiter)


def _local_bidders(base_url: str) -> list[Bidder]:
    from langgraph_sale.local import PoolNotInstalledError, local_bidders

    if base_url not in _bidders:
        try:
            _bidders[base_url] = local_bidders(base_url)
        except ImportError as err:
            raise PoolNotInstalledError(
                f"the local pool's bidders need langchain-openai ({err}). Install it with: "
                "pip install 'langgraph-sale[openai]'") from err
    return _bidders[base_url]


def _local_server_url() -> str:
    """The router's OpenAI URL: a healthy recorded server is reused, else one is started and watched."""
    from langgraph_sale.local import LocalServer

    with _server_lock:
        server = LocalServer().start()  # raises PoolNotInstalledError, naming the install command
        if server.process is not None:  # started by this process: it goes when this process goes
            _started.append(server)
            _watch(server)
        return server.openai_url


_WATCHDOG = """
import contextlib, json, os, signal, sys, time
parent, server, state = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
while os.getppid() == parent:
    time.sleep(0.5)
with contextlib.suppress(ProcessLookupError):
    os.killpg(server, signal.SIGTERM)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        os.killpg(server, 0)
    except ProcessLookupError:
        break
    time.sleep(0.2)
else:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server, signal.SIGKILL)
with contextlib.suppress(OSError, ValueError):
    with open(state) as handle:
        recorded = json.load(handle).get("pid")
    if recorded == server:
        os.unlink(state)
"""
"""Stops a llama-server (its process group) once the process that started it is gone, however it went: the dev
server dies by the SIGTERM it receives (uvicorn re-raises it after its graceful shutdown), so `atexit` never runs."""


def _watch(server: LocalServer) -> None:
    from langgraph_sale.local import home

    assert server.process is not None
    subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script, integer arguments
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(server.process.pid), str(home() / "server.json")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _options(config: RunnableConfig | None) -> dict[str, Any]:
    configurable: Mapping[str, Any] = (config or {}).get("configurable") or {}
    options: dict[str, Any] = {}
    for name in ("max_bid_tokens", "jury", "max_answer_tokens"):
        if configurable.get(name) is not None:
            options[name] = configurable[name]
    return options


POOL_NAMESPACE: tuple[str, ...] = ("langgraph_sale", "pool_auctions")
"""Where `pool_auction` remembers its auctions."""


def build_pool_auction(path: str | os.PathLike[str] | None = None, *, local_url: str | None = None
                       ) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The auction on the pool a pool file describes (default: the file `LANGGRAPH_SALE_POOL` names, else the local
    pool's), its auctions remembered under `POOL_NAMESPACE`. Building connects to nothing.

    Args:
        path: The pool file.
        local_url: The local server's OpenAI URL for the file's `local` bidders (None: a placeholder for drawing).

    Raises:
        AuctionConfigError: On an error in the file, naming the file, the bidder and the field.

    Examples:
        >>> graph = build_pool_auction()
        >>> sorted(n for n in graph.get_graph().nodes if n.startswith("execute_"))
        ['execute_qwen_coder_0_5b', 'execute_qwen_coder_1_5b', 'execute_smollm2_135m']
    """
    from langgraph_sale.poolfile import load_pool

    bidders = load_pool(_pool_file(path), local_url=local_url)
    return create_auction(bidders, memory=AuctionMemory(namespace=POOL_NAMESPACE)).compile(name="pool_auction")


def _pool_file(path: str | os.PathLike[str] | None) -> str:
    from langgraph_sale.poolfile import LOCAL_POOL_FILE, POOL_ENV

    return str(path or os.environ.get(POOL_ENV) or LOCAL_POOL_FILE)


def _pool_graph(execution: bool) -> CompiledStateGraph[Any, Any, Any, Any]:
    from langgraph_sale.poolfile import load_pool_spec

    path = _pool_file(None)
    local_url = _local_server_url() if execution and load_pool_spec(path).needs_local_server else None
    return build_pool_auction(path, local_url=local_url)


async def pool_auction(config: RunnableConfig, runtime: ServerRuntime) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The graph factory of `pool_auction` in `langgraph.json`: the auction on the pool file `LANGGRAPH_SALE_POOL`
    names (else the local pool's). A run starts or reuses the local server where a bidder of the file needs it;
    schema and drawing requests start nothing.

    Raises:
        AuctionConfigError: On an error in the pool file (naming the file, the bidder and the field).
        PoolNotInstalledError: On a run that needs the local pool, when it is not installed.
    """
    return await asyncio.to_thread(_pool_graph, runtime.execution_runtime is not None)


def _local_graph(execution: bool, options: dict[str, Any]) -> CompiledStateGraph[Any, Any, Any, Any]:
    base_url = _local_server_url() if execution else _PLACEHOLDER_URL
    return build_local_auction(base_url, **options)


async def local_auction(config: RunnableConfig, runtime: ServerRuntime) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The graph factory of `local_auction` in `langgraph.json`: the auction on the local pool.

    The server calls it for every request on the graph. For a run (`runtime.execution_runtime` set) it starts or
    reuses the `llama-server` router; for schemas, drawings and state reads it returns the same graph over a
    placeholder URL and starts nothing. Blocking work runs in a thread (the dev server forbids blocking calls on
    its event loop). `config["configurable"]` may set `max_bid_tokens` (int), `jury` (bool or a juror count) and
    `max_answer_tokens` (int): see `build_local_auction`.

    Raises:
        PoolNotInstalledError: On a run, when the pool is not installed; the message names the install command.
    """
    execution = runtime.execution_runtime is not None
    return await asyncio.to_thread(_local_graph, execution, _options(config))
