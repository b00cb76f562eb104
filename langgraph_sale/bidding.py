"""Phase 1: a bidder writes its plan, and the call becomes a `Bid` record (plan, tokens, entropy, latency)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable
from langgraph.constants import TAG_NOSTREAM

from langgraph_sale.bidder import Bidder
from langgraph_sale.calls import ainvoke_bounded, invoke_bounded
from langgraph_sale.metrics import call_usage, mean_token_entropy, message_text, token_logprobs
from langgraph_sale.prompts import bid_messages, clean_untrusted
from langgraph_sale.types import Bid, CallUsage

__all__ = ["with_token_cap", "auction_call", "make_bid", "amake_bid", "failed_bid"]

_CAP_FIELDS = ("num_predict", "max_tokens", "max_output_tokens", "max_new_tokens")
# A plan is stored and shown to jurors at most this many characters per allowed token: a model that ignores the
# cap cannot flood the jury prompt (its real token count is still what it is billed and scored on).
_PLAN_CHARS_PER_TOKEN = 8


def with_token_cap(model: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """A copy of `model` whose output is capped at `max_tokens`, via whichever cap field the integration has.

    `ChatOpenAI` has `max_tokens`, `ChatOllama` `num_predict`; a model with neither is returned unchanged and
    bounded only by the prompt's word budget. A smaller cap already set on the model is kept.

    Example:
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


def auction_call(model: BaseChatModel, max_tokens: int) -> Runnable[Any, Any]:
    """The model as the auction calls it: output capped, and tagged so `stream_mode="messages"` skips it.

    Bids and jury answers are bookkeeping, not chat output: LangGraph's messages stream (what Studio and chat UIs
    show) leaves out model calls tagged `nostream`; only the winner's execution streams.

    Example:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> auction_call(ScriptedChatModel(), 64).config["tags"]
        ['nostream']
    """
    return with_token_cap(model, max_tokens).with_config(tags=[TAG_NOSTREAM])


def failed_bid(
    request: dict[str, Any], error: BaseException | str, *, latency_s: float = 0.0, attempts: int | None = None
) -> Bid:
    """The record of a bid that raised or timed out: it keeps its place in state and takes no part."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return Bid(
        auction_id=request["auction_id"],
        bidder=request["bidder"],
        phase=request.get("phase", "bid"),
        round=request.get("round", 0),
        latency_s=latency_s,
        attempts=attempts,
        error=message[:2000],
    )


def _bid_from_answer(
    request: dict[str, Any], bidder: Bidder, answer: BaseMessage, prompt: list[BaseMessage], latency_s: float,
    max_tokens: int,
) -> Bid:
    text = clean_untrusted(message_text(answer)).strip()
    prompt_chars = sum(len(message_text(message)) for message in prompt)
    usage = call_usage(answer, price_per_mtok=bidder.price_per_mtok, prompt_chars=prompt_chars)
    tokens = token_logprobs(answer)
    if usage.estimated and tokens:
        # The logprobs list the generated tokens: an exact output count even where usage is missing.
        usage = CallUsage(
            input_tokens=usage.input_tokens,
            output_tokens=len(tokens),
            cost_usd=bidder.price_per_mtok * (usage.input_tokens + len(tokens)) / 1_000_000,
            calls=1,
            estimated=True,
        )
    entropy, top_k = mean_token_entropy(tokens)
    limit = max_tokens * _PLAN_CHARS_PER_TOKEN
    return Bid(
        auction_id=request["auction_id"],
        bidder=bidder.name,
        phase=request.get("phase", "bid"),
        round=request.get("round", 0),
        plan=text[:limit],
        plan_tokens=usage.output_tokens,
        entropy=entropy,
        entropy_top_k=top_k,
        usage=usage,
        latency_s=latency_s,
        error=None if text else "empty plan",
    )


def _prompt(request: dict[str, Any], bidder: Bidder, max_tokens: int) -> list[BaseMessage]:
    return bid_messages(
        request["task"],
        bidder_name=bidder.name,
        description=bidder.description,
        tools=bidder.tools,
        max_tokens=max_tokens,
    )


def make_bid(request: dict[str, Any], bidder: Bidder, *, max_tokens: int, timeout: float | None) -> Bid:
    """Ask `bidder` for its plan (sync). Exceptions propagate, so the node's retry policy can act on them.

    Example:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> bidder = Bidder("small", ScriptedChatModel(plans=["1. Parse. 2. Test."]), price_per_mtok=0.1)
        >>> make_bid({"auction_id": "a", "bidder": "small", "task": "t"}, bidder, max_tokens=64, timeout=5).plan
        '1. Parse. 2. Test.'
    """
    prompt = _prompt(request, bidder, max_tokens)
    answer, seconds = invoke_bounded(auction_call(bidder.model, max_tokens), prompt, timeout=timeout,
                                     who=bidder.name, limiter=bidder.limiter)
    return _bid_from_answer(request, bidder, answer, prompt, seconds, max_tokens)


async def amake_bid(request: dict[str, Any], bidder: Bidder, *, max_tokens: int, timeout: float | None) -> Bid:
    """Ask `bidder` for its plan (async); see `make_bid`."""
    prompt = _prompt(request, bidder, max_tokens)
    answer, seconds = await ainvoke_bounded(auction_call(bidder.model, max_tokens), prompt, timeout=timeout,
                                            who=bidder.name, limiter=bidder.limiter)
    return _bid_from_answer(request, bidder, answer, prompt, seconds, max_tokens)
