"""What one model call cost and how sure the model was: usage, price and token entropy.

Two logprob formats reach us: `ChatOpenAI(logprobs=True, top_logprobs=k)` puts a dict with a `content` list of
`{token, logprob, top_logprobs: [...]}` dicts into `response_metadata["logprobs"]`; `ChatOllama` puts a plain list
of `ollama._types.Logprob` pydantic objects there. Both are read here and reduced to floats before anything enters
graph state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from langgraph_sale.pricing import Pricing
from langgraph_sale.types import CallUsage

__all__ = [
    "CHARS_PER_TOKEN",
    "TokenLogprobs",
    "token_logprobs",
    "mean_token_entropy",
    "expected_digit_score",
    "call_usage",
    "estimate_tokens",
    "message_text",
]

CHARS_PER_TOKEN = 4.0
"""Characters per token used to estimate counts when a model returns no usage (flagged `estimated`)."""

TokenLogprobs = tuple[str, list[tuple[str, float]]]
"""One generated token and its top-k alternatives as (token, logprob) pairs."""


def _field(obj: Any, name: str) -> Any:
    if type(obj) is dict:  # the common case (OpenAI format), checked first: this runs once per token
        return obj.get(name)
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def token_logprobs(message: BaseMessage) -> list[TokenLogprobs] | None:
    """Read the per-token top-k logprobs of a model answer, in the OpenAI or the Ollama format.

    Args:
        message: The model's answer.

    Returns:
        One `(token, [(alternative, logprob), ...])` per generated token, or None when the model returned no
        logprobs.

    Examples:
        >>> from langchain_core.messages import AIMessage
        >>> msg = AIMessage("hi", response_metadata={"logprobs": {"content": [
        ...     {"token": "hi", "logprob": -0.1, "top_logprobs": [{"token": "hi", "logprob": -0.1}]}]}})
        >>> token_logprobs(msg)
        [('hi', [('hi', -0.1)])]
    """
    raw = message.response_metadata.get("logprobs") if message.response_metadata else None
    if raw is None:
        return None
    entries = _field(raw, "content") if not isinstance(raw, Sequence) else raw
    if not entries:
        return None
    out: list[TokenLogprobs] = []
    for entry in entries:
        token = _field(entry, "token")
        top = _field(entry, "top_logprobs") or []
        alternatives: list[tuple[str, float]] = []
        for alt in top:
            logprob = _field(alt, "logprob")
            if logprob is None:
                continue
            alternatives.append((str(_field(alt, "token")), float(logprob)))
        if not alternatives:
            own = _field(entry, "logprob")
            if own is not None:
                alternatives.append((str(token), float(own)))
        out.append((str(token), alternatives))
    return out


def _entropy_of(alternatives: Iterable[tuple[str, float]]) -> float | None:
    logprobs = [lp for _, lp in alternatives if math.isfinite(lp)]
    if not logprobs:
        return None
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return -sum((w / total) * math.log(w / total) for w in weights if w > 0)


def mean_token_entropy(tokens: Sequence[TokenLogprobs] | None) -> tuple[float | None, int | None]:
    """Mean over generated tokens of the entropy (nats) of the renormalised top-k next-token distribution.

    This is docs/method.md §6.2 #3 with the top-k approximation an API allows: each token's top-k probabilities are
    renormalised to sum to one, so the entropy of one token is at most ln(k).

    Args:
        tokens: The output of `token_logprobs`.

    Returns:
        `(mean entropy, k)`, or `(None, None)` when there are no usable logprobs (absent, never zero).

    Examples:
        >>> h, k = mean_token_entropy([("a", [("a", math.log(0.5)), ("b", math.log(0.5))])])
        >>> round(h, 4), k
        (0.6931, 2)
    """
    if not tokens:
        return None, None
    entropies: list[float] = []
    top_k = 0
    for _, alternatives in tokens:
        value = _entropy_of(alternatives)
        if value is not None:
            entropies.append(value)
            top_k = max(top_k, len(alternatives))
    if not entropies or top_k < 2:
        return None, None
    return sum(entropies) / len(entropies), top_k


def expected_digit_score(tokens: Sequence[TokenLogprobs] | None, *, low: int = 0, high: int = 5,
                         first: bool = False) -> float | None:
    """Expected jury score from the top logprobs of the first token that is a score digit.

    Reads the distribution over the digits `low..high` at that position, renormalised over those digits, and
    returns `sum k * p(k)`: one output token carries a graded score instead of a sampled integer. With `first`,
    the position is the first token whatever was sampled there, as long as its alternatives hold a digit (a
    one-token answer that came out as a word still carries the digits' distribution).

    Examples:
        >>> toks = [("{", [("{", 0.0)]), ("4", [("4", math.log(0.75)), ("5", math.log(0.25))])]
        >>> expected_digit_score(toks)
        4.25
        >>> expected_digit_score([("The", [("The", math.log(0.5)), ("3", math.log(0.25)), ("5", math.log(0.25))])],
        ...                      first=True)
        4.0
    """
    if not tokens:
        return None
    digits = {str(d) for d in range(low, high + 1)}
    for token, alternatives in tokens[:1] if first else tokens:
        if token.strip() not in digits and not first:
            continue
        mass: dict[int, float] = {}
        for alt, logprob in alternatives:
            key = alt.strip()
            if key in digits and math.isfinite(logprob):
                mass[int(key)] = mass.get(int(key), 0.0) + math.exp(logprob)
        total = sum(mass.values())
        if total <= 0:
            return None
        return sum(k * p for k, p in mass.items()) / total
    return None


def message_text(message: BaseMessage) -> str:
    """The text of a message, joining text blocks when the content is a list.

    Examples:
        >>> message_text(AIMessage(content=[{"type": "text", "text": "a"}, "b"]))
        'ab'
    """
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def estimate_tokens(text: str) -> int:
    """Estimate a token count from text length (used only where a model returns no usage).

    Examples:
        >>> estimate_tokens("12345678")
        2
    """
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN)) if text else 0


def call_usage(
    message: BaseMessage | None,
    *,
    price_per_mtok: float | Pricing,
    prompt_chars: int = 0,
    counted_output_tokens: int | None = None,
) -> CallUsage:
    """Tokens and dollars of one call, from `usage_metadata` where present, estimated (and flagged) otherwise.

    Input, cached input (`usage_metadata["input_token_details"]["cache_read"]`, where the provider reports it) and
    output tokens are each charged at the bidder's price for them (`langgraph_sale.pricing`).

    Args:
        message: The model's answer (None when the call failed: nothing is known, nothing is charged).
        price_per_mtok: The bidder's price: a `Pricing`, or one number for every kind of token.
        prompt_chars: Length of the prompt, used to estimate input tokens when usage is missing.
        counted_output_tokens: The output tokens where they are known without usage (one logprob entry per
            generated token); used instead of the text estimate.

    Examples:
        >>> msg = AIMessage("ok", usage_metadata={"input_tokens": 10, "output_tokens": 2, "total_tokens": 12})
        >>> call_usage(msg, price_per_mtok=1.0).cost_usd
        1.2e-05
    """
    if message is None:
        return CallUsage()
    usage = getattr(message, "usage_metadata", None) if isinstance(message, AIMessage) else None
    cached = 0
    if usage and (usage.get("input_tokens") or usage.get("output_tokens")):
        input_tokens = int(usage.get("input_tokens") or 0)
        output_tokens = int(usage.get("output_tokens") or 0)
        cached = int((usage.get("input_token_details") or {}).get("cache_read") or 0)
        estimated = False
    else:
        input_tokens = math.ceil(prompt_chars / CHARS_PER_TOKEN)
        output_tokens = counted_output_tokens or estimate_tokens(message_text(message))
        estimated = True
    cost = Pricing.of(price_per_mtok).cost(input_tokens=input_tokens, output_tokens=output_tokens,
                                           cached_input_tokens=cached)
    return CallUsage(
        input_tokens=input_tokens,
        cached_input_tokens=cached,
        output_tokens=output_tokens,
        cost_usd=cost,
        calls=1,
        estimated=estimated,
    )
