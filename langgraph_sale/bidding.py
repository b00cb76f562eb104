"""Phase 1: a bidder writes its plan, and the call becomes a `Bid` record (plan, tokens, entropy, latency)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage

from langgraph_sale.bidder import Bidder
from langgraph_sale.calls import ainvoke_bounded, invoke_bounded
from langgraph_sale.guard import PlanScreening, ScreenedPlan, repeats_itself, screen_plan
from langgraph_sale.metrics import (
    CHARS_PER_TOKEN,
    TokenLogprobs,
    call_usage,
    mean_token_entropy,
    message_text,
    token_logprobs,
)
from langgraph_sale.prompts import (
    PLAN_END,
    PLAN_STOP,
    PlanFormat,
    bid_messages,
    clean_untrusted,
    refine_messages,
    revised_plan_start,
)
from langgraph_sale.types import Bid

__all__ = ["make_bid", "amake_bid", "failed_bid", "REJECTED_PLAN"]

REJECTED_PLAN = ("empty plan", "hostile plan", "degenerate plan")
"""How the error of a bid whose model answered, but with no usable plan, begins (as opposed to a bid that raised
or timed out): what the model wrote, not a fault of the call."""

# A plan is stored and shown to jurors at most twice the characters its token cap would hold: a model that ignores
# the cap cannot flood the jury prompt (its real token count is still what it is billed and scored on).
_PLAN_CAP_SLACK = 2


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
    max_tokens: int, screening: PlanScreening,
) -> Bid:
    text = _without_end(clean_untrusted(message_text(answer))).strip()
    prompt_chars = sum(len(message_text(message)) for message in prompt)
    tokens = token_logprobs(answer)
    # Where usage is missing, the logprobs still list the generated tokens: an exact output count.
    usage = call_usage(answer, price_per_mtok=bidder.pricing, prompt_chars=prompt_chars,
                       counted_output_tokens=len(tokens) if tokens else None)
    plan_tokens = usage.output_tokens
    if request.get("phase") == "refine":
        # The whole answer is paid for; only the revised plan after the analysis is scored (docs/method.md §6.2 #15).
        text, tokens, plan_tokens = _revised_part(text, tokens, plan_tokens)
    entropy, top_k = mean_token_entropy(tokens)
    limit = int(max_tokens * _PLAN_CAP_SLACK * CHARS_PER_TOKEN)
    # Passages addressed to the jury are removed before anyone reads the plan; the tokens stay billed and counted.
    screened = screen_plan(text) if screening != "off" else ScreenedPlan(text)
    if screened.hostile:
        text = "" if screening == "reject" else screened.text
    rejected = screened.hostile and screening == "reject"
    empty, hostile, degenerate = REJECTED_PLAN
    error = f"{hostile}: {screened.flags[0]}" if rejected else None if text else empty
    if error is None and repeats_itself(text):
        # A loop is no plan, and its near-certain tokens would pass for confidence in the entropy term.
        error = f"{degenerate}: it repeats itself"
    return Bid(
        auction_id=request["auction_id"],
        bidder=bidder.name,
        phase=request.get("phase", "bid"),
        round=request.get("round", 0),
        plan=text[:limit],
        plan_tokens=plan_tokens,
        entropy=entropy,
        entropy_top_k=top_k,
        usage=usage,
        latency_s=latency_s,
        error=error,
        flags=list(screened.flags),
    )


def _without_end(text: str) -> str:
    """The plan without its `PLAN_END` line (a model whose server ignores the stop sequence writes it)."""
    lines = text.rstrip().splitlines()
    while lines and lines[-1].strip().strip("*#").strip() == PLAN_END:
        lines.pop()
    return "\n".join(lines) if lines else ""


def _revised_part(
    text: str, tokens: list[TokenLogprobs] | None, output_tokens: int
) -> tuple[str, list[TokenLogprobs] | None, int]:
    """The revised plan of a rewritten bid, its tokens' logprobs and its token count."""
    start = revised_plan_start(text)
    if start == 0:
        return text, tokens, output_tokens
    plan = text[start:].strip()
    if not tokens:
        # No logprobs to split on: the plan's share of the characters stands for its share of the tokens.
        return plan, tokens, max(1, round(output_tokens * len(plan) / max(1, len(text)))) if plan else 0
    # Walk the generated tokens until their text covers the analysis: the rest are the plan's tokens.
    # Whitespace is left out of the comparison: tokenizers differ in where they put it.
    analysis_chars = len("".join(text[:start].split()))
    seen, first = 0, len(tokens)
    for index, (token, _) in enumerate(tokens):
        if seen >= analysis_chars:
            first = index
            break
        seen += len("".join(token.split()))
    plan_tokens = tokens[first:]
    return plan, plan_tokens, len(plan_tokens)


def _call(request: dict[str, Any], bidder: Bidder, max_tokens: int,
          plan_format: PlanFormat) -> tuple[list[BaseMessage], Any]:
    """A bid's prompt and the model that answers it (stopped at `PLAN_END` for a "steps" bid)."""
    prompt = _prompt(request, bidder, max_tokens, plan_format)
    steps = plan_format == "steps" and request.get("phase") != "refine"
    return prompt, bidder.auction_model(max_tokens, PLAN_STOP if steps else ())


def _prompt(request: dict[str, Any], bidder: Bidder, max_tokens: int, plan_format: PlanFormat) -> list[BaseMessage]:
    if request.get("phase") == "refine":
        return refine_messages(
            request["task"],
            current_plan=request.get("current_plan", ""),
            contrast=request.get("contrast", []),
            bidder_name=bidder.name,
            description=bidder.description,
            tools=bidder.tools,
            max_tokens=max_tokens,
        )
    return bid_messages(
        request["task"],
        bidder_name=bidder.name,
        description=bidder.description,
        tools=bidder.tools,
        max_tokens=max_tokens,
        plan_format=plan_format,
    )


def make_bid(request: dict[str, Any], bidder: Bidder, *, max_tokens: int, timeout: float | None,
             screening: PlanScreening = "strip", plan_format: PlanFormat = "steps") -> Bid:
    """Ask `bidder` for its plan (sync). Exceptions propagate, so the node's retry policy can act on them.

    `screening` says what happens to passages that address the jury (`langgraph_sale.guard.screen_plan`): "strip"
    removes them (listed in `Bid.flags`), "reject" fails the bid, "off" keeps them.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> bidder = Bidder("small", ScriptedChatModel(plans=["1. Parse. 2. Test."]), price_per_mtok=0.1)
        >>> make_bid({"auction_id": "a", "bidder": "small", "task": "t"}, bidder, max_tokens=64, timeout=5).plan
        '1. Parse. 2. Test.'
    """
    prompt, model = _call(request, bidder, max_tokens, plan_format)
    answer, seconds = invoke_bounded(model, prompt, timeout=timeout, who=bidder.name, limiter=bidder.limiter)
    return _bid_from_answer(request, bidder, answer, prompt, seconds, max_tokens, screening)


async def amake_bid(request: dict[str, Any], bidder: Bidder, *, max_tokens: int, timeout: float | None,
                    screening: PlanScreening = "strip", plan_format: PlanFormat = "steps") -> Bid:
    """Ask `bidder` for its plan (async); see `make_bid`."""
    prompt, model = _call(request, bidder, max_tokens, plan_format)
    answer, seconds = await ainvoke_bounded(model, prompt, timeout=timeout, who=bidder.name, limiter=bidder.limiter)
    return _bid_from_answer(request, bidder, answer, prompt, seconds, max_tokens, screening)
