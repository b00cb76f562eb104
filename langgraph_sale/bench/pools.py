"""The pools a benchmark can run: the fake pool, the local pool (llama-server on this machine), any
OpenAI-compatible endpoint, or the pool a pool file describes (`langgraph_sale.poolfile`: providers mixed, full
prices, each endpoint's concurrency limit). A pool is a list of (name, price, chat model), cheapest first; the
harness wraps each model in its meter and cache and builds the bidders itself.

The local pool's server starts on the first call the run's cache cannot answer (`Pool.connect`), so a replay of a
committed record starts nothing; with `offline=True` nothing is ever started or called, and the pool need not be
installed: only the models' names, prices and options are needed to look calls up."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_sale.bench.data import Suite
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.limits import CallLimiter
from langgraph_sale.pricing import Pricing

__all__ = ["PoolMember", "Pool", "make_pool", "POOLS"]

POOLS = ("fake", "local", "openai", "file")


@dataclass
class PoolMember:
    name: str
    price_per_mtok: float
    model: Any
    description: str = ""
    grammar: bool = False
    """The model's server takes GBNF grammars (`Bidder.grammar`)."""
    pricing: Pricing | None = None
    """Input, cached-input and output prices where the pool gives them (a pool file); None: `price_per_mtok` on
    every token."""
    limiter: CallLimiter | None = None
    """The member's endpoint's concurrency limit (a pool file); None: the run's own."""


@dataclass
class Pool:
    kind: str
    members: list[PoolMember]
    fingerprint: dict[str, Any]
    close: Callable[[], None] = field(default=lambda: None)
    connect: Callable[[str], Any] | None = None
    """The live model of a member by name, for a call the cache cannot answer (None: the member's own model)."""
    concurrent: bool = False
    """Its endpoints serve many calls at once (remote APIs, the fake pool), so tasks may run at once; the local
    server on a few cores does not (`--concurrency`)."""

    @property
    def cheapest(self) -> str:
        return self.members[0].name

    @property
    def largest(self) -> str:
        return self.members[-1].name

    def prices(self) -> dict[str, float]:
        return {member.name: member.price_per_mtok for member in self.members}


def _snake(model_id: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")
    return name if name and name[0].isalpha() else f"m_{name}"


def _prices(models: Sequence[str], prices: Sequence[float] | None, default: dict[str, float]) -> list[float]:
    if prices is None:
        missing = [m for m in models if m not in default]
        if missing:
            raise AuctionConfigError("--prices", f"give a price for every model (no default for {', '.join(missing)})")
        return [default[m] for m in models]
    if len(prices) != len(models):
        raise AuctionConfigError("--prices", f"{len(prices)} prices for {len(models)} models")
    return list(prices)


def _ordered(members: list[PoolMember]) -> list[PoolMember]:
    return sorted(members, key=lambda m: m.price_per_mtok)


def make_pool(kind: str, suite: Suite, *, models: Sequence[str] | None = None,
              prices: Sequence[float] | None = None, base_url: str | None = None,
              api_key_env: str = "OPENAI_API_KEY", logprobs: bool = True, timeout: float = 600.0,
              offline: bool = False, lazy: bool = False, pool_file: str | None = None) -> Pool:
    """Build a pool (see the module docstring).

    Args:
        kind: "fake", "local" (starts or reuses the package's llama-server; `python -m langgraph_sale.local install`
            first) or "openai" (any OpenAI-compatible `base_url`; the key is read from `api_key_env`).
        suite: The loaded suite (the fake pool answers from its tasks).
        models: Model ids (local: ids of `langgraph_sale.local.MODELS`, default all three; openai: required).
        prices: $ per million tokens, one per model (local: the package's defaults).
        base_url: The endpoint of an "openai" pool.
        api_key_env: The environment variable holding the endpoint's key.
        logprobs: Ask real models for top-5 logprobs (plan entropy); turn off for endpoints without them.
        timeout: HTTP timeout of one call.
        offline: The run answers every call from its cache (a replay): the local pool need not be installed.
        lazy: The local pool may be missing until a call needs it (a run seeded from a record): its install is
            checked on the first call the cache cannot answer, not before.
        pool_file: The pool file of a "file" pool.
    """
    if kind == "fake":
        from langgraph_sale.bench.fake import FAKE_AGENTS, FakeBenchModel, FakeWorld

        if models or prices:
            raise AuctionConfigError("--models", "the fake pool has fixed agents (small, medium, large)")
        world = FakeWorld([task for tasks in suite.tasks.values() for task in tasks])
        members = [PoolMember(a.name, a.price_per_mtok, FakeBenchModel(world=world, agent=a.name),
                              f"fake agent ({a.name})") for a in FAKE_AGENTS]
        return Pool("fake", members, {"pool": "fake", "agents": [(a.name, a.price_per_mtok) for a in FAKE_AGENTS]},
                    concurrent=True)
    if kind == "local":
        return _local_pool(models, prices, timeout=timeout, installed_now=not (offline or lazy))
    if kind == "openai":
        from langchain_openai import ChatOpenAI

        if not base_url or not models:
            raise AuctionConfigError("--base-url", "an openai pool needs --base-url and --models")
        price_list = _prices(list(models), prices, {})
        key = os.environ.get(api_key_env) or "sk-none"
        members = []
        for model_id, price in zip(models, price_list, strict=True):
            extra: dict[str, Any] = {"logprobs": True, "top_logprobs": 5} if logprobs else {}
            chat = ChatOpenAI(model=model_id, base_url=base_url, api_key=key,  # type: ignore[arg-type]
                              temperature=0, timeout=timeout, max_retries=2, stream_usage=True, **extra)
            members.append(PoolMember(_snake(model_id), price, chat, model_id))
        if len({m.name for m in members}) != len(members):
            raise AuctionConfigError("--models", "two model ids map to the same bidder name")
        fingerprint = {"pool": "openai", "models": list(models), "prices": price_list, "logprobs": logprobs}
        return Pool("openai", _ordered(members), fingerprint, concurrent=True)
    if kind == "file":
        if not pool_file:
            raise AuctionConfigError("--pool-file", "a file pool needs --pool-file FILE")
        if models or prices or base_url:
            raise AuctionConfigError("--pool-file", "the pool file names the models, prices and endpoints: drop "
                                     "--models, --prices and --base-url")
        return _file_pool(pool_file, installed_now=not (offline or lazy))
    raise AuctionConfigError("--pool", f"must be one of {', '.join(POOLS)}, got {kind!r}")


def _file_pool(path: str, *, installed_now: bool) -> Pool:
    """The pool a pool file describes; a `local` bidder's server started on the first call that needs it."""
    from langgraph_sale.local import pool_installed
    from langgraph_sale.poolfile import load_pool_spec

    spec = load_pool_spec(path)

    def require_installed() -> None:
        if spec.needs_local_server and not pool_installed():
            raise AuctionConfigError("--pool-file", f"{path} has local bidders and the local pool is not installed: "
                                     "run `python -m langgraph_sale.local install` first (or replay with --offline)")

    if installed_now:
        require_installed()
    return _started_on_first_miss("file", lambda url: spec.bidders(local_url=url, where=path),
                                  {"pool": "file", "bidders": spec.fingerprint()},
                                  needs_server=spec.needs_local_server, require_installed=require_installed,
                                  own_limits=True, concurrent=not spec.needs_local_server)


def _local_pool(models: Sequence[str] | None, prices: Sequence[float] | None, *, timeout: float,
                installed_now: bool) -> Pool:
    """The local pool, its server started on the first call that needs it (see the module docstring)."""
    from langgraph_sale.local import MODELS, local_bidders, pool_installed

    def require_installed() -> None:
        if not pool_installed():
            raise AuctionConfigError("--pool", "the local pool is not installed: run "
                                     "`python -m langgraph_sale.local install` first (or replay with --offline)")

    if installed_now:
        require_installed()
    wanted = list(models) if models else [m.id for m in MODELS]
    price_list = _prices(wanted, prices, {m.id: m.price_per_mtok for m in MODELS})
    price_of = dict(zip(wanted, price_list, strict=True))
    return _started_on_first_miss(
        "local", lambda url: local_bidders(url or "http://127.0.0.1:9/v1", models=wanted, prices=price_of,
                                           timeout=timeout),
        {"pool": "local", "models": wanted, "prices": price_list}, needs_server=True,
        require_installed=require_installed)


def _started_on_first_miss(kind: str, build: Callable[[str | None], list[Any]], fingerprint: dict[str, Any], *,
                           needs_server: bool, require_installed: Callable[[], None], own_limits: bool = False,
                           concurrent: bool = False) -> Pool:
    """A pool whose bidders are built first at no server (`build(None)`) and again, live, on the first call the cache
    cannot answer (`build(url)`, the local server started first where `needs_server`). Calls are keyed by the
    models' options, never their URL: the models built before the server has a port look calls up exactly as the
    live ones will make them. `own_limits`: each member keeps its bidder's limiter (a pool file's endpoints)."""
    from langgraph_sale.local import LocalServer

    server = LocalServer()
    live: dict[str, Any] = {}
    lock = threading.Lock()

    def connect(name: str) -> Any:
        with lock:
            if not live:
                url = None
                if needs_server:
                    require_installed()
                    url = server.start().openai_url
                live.update((b.name, b.model) for b in build(url))
        return live[name]

    members = [PoolMember(b.name, b.price_per_mtok, b.model, b.description, b.grammar,
                          pricing=None if b.pricing.flat else b.pricing, limiter=b.limiter if own_limits else None)
               for b in build(None)]
    return Pool(kind, _ordered(members), fingerprint, close=server.stop, connect=connect, concurrent=concurrent)
