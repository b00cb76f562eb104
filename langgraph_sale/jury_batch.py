"""Phase 2, batched: one juror reads every plan of a round in one request (`jury_batch=True`, the default).

The prompt opens with what the juror's own bid opened with (the task, which the server's cache then serves), then
the rubric, the plans in an order drawn from the task, the juror and the plans, and one digit per plan as the
answer, held to digits by a grammar where the server takes one (llama-server). The score of plan k is the expected
score over the digits' top logprobs at the k-th answer token. An answer that is not one digit a plan falls back to
one request a plan (`langgraph_sale.jury.judge`).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from langgraph_sale.bidder import Bidder
from langgraph_sale.calls import ainvoke_bounded, invoke_bounded
from langgraph_sale.jury import JuryScoring, ajudge, judge, jury_record
from langgraph_sale.metrics import call_usage, expected_digit_score, message_text, token_logprobs
from langgraph_sale.prompts import jury_batch_messages
from langgraph_sale.types import Bid, CallUsage, JuryScore

__all__ = ["BATCH_TOP_LOGPROBS", "judge_all", "ajudge_all", "batch_order", "batch_scores"]

BATCH_TOP_LOGPROBS = 20
"""Alternatives a token of a batched answer: past the first digit a model's top five often hold separators (a
space, a comma) that the grammar forbids, and a score needs the digits' share among them."""

_SCORE_DIGITS = frozenset("012345")
_SEPARATORS = re.compile(r"[\s,;]+")
"""What may stand between the digits of a batched answer from a model held to no grammar."""


def batch_order(juror: str, task: str, plans: Sequence[str]) -> list[int]:
    """The order in which a juror reads the plans of a batch: drawn from the task, the juror and the plans, so no
    position favours an author, and the same inputs give the same prompt (a replayed run calls the same).

    Examples:
        >>> sorted(batch_order("large", "t", ["a", "b", "c"]))
        [0, 1, 2]
    """
    seed = hashlib.sha256("\x00".join([task, juror, *plans]).encode("utf-8")).hexdigest()
    order = list(range(len(plans)))
    random.Random(seed).shuffle(order)
    return order


def batch_scores(message: BaseMessage, count: int) -> list[tuple[int, float | None]] | None:
    """The `(digit, expected score)` of each plan from a batched answer, or None when it is not one digit a plan
    (digits 0-5, nothing else but spaces, commas or semicolons between them).

    The k-th answer token that is a digit 0-5 is plan k's: its expected score is read from that token's top
    logprobs renormalised over the digits. An answer whose tokens do not split into single digits (a tokenizer that
    joins "45") is read from its text, digits only.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> from langchain_core.messages import AIMessage
        >>> batch_scores(AIMessage("4 5"), 2), batch_scores(AIMessage("Plan 1: 4"), 2)
        ([(4, None), (5, None)], None)
    """
    digits = _SEPARATORS.sub("", message_text(message))
    if len(digits) != count or not set(digits) <= _SCORE_DIGITS:
        return None
    positions = [(token, alternatives) for token, alternatives in token_logprobs(message) or []
                 if token.strip() in _SCORE_DIGITS]
    if len(positions) == count:
        return [(int(token.strip()), expected_digit_score([(token, alternatives)], first=True))
                for token, alternatives in positions]
    return [(int(digit), None) for digit in digits]


class _Batch:
    """One juror's single request over every plan of a round; shared by the sync and the async path."""

    def __init__(self, juror: Bidder, bids: Sequence[Bid], task: str, scoring: JuryScoring) -> None:
        self.juror = juror
        self.scoring = scoring
        # From one canonical order (the bids arrive in the order their branches finished), the drawn one.
        canonical = sorted(bids, key=lambda bid: (bid.bidder, bid.round, bid.id))
        self.bids = [canonical[i] for i in batch_order(juror.name, task, [bid.plan for bid in canonical])]
        self.messages = jury_batch_messages(task, [bid.plan for bid in self.bids])
        count = len(self.bids)
        if juror.grammar:
            # Held to digits, the answer is one token a plan.
            self.runnable = juror.auction_model(count, grammar="root ::= " + " ".join(["[0-5]"] * count),
                                                top_logprobs=BATCH_TOP_LOGPROBS)
        else:
            # Free, it may separate them ("4 5").
            self.runnable = juror.auction_model(2 * count)
        self.usage = CallUsage()
        self.seconds = 0.0
        self.error: str | None = None

    def failed(self, error: BaseException) -> None:
        self.error = f"batch: {type(error).__name__}: {error}"[:500]

    def read(self, result: Any, seconds: float) -> list[JuryScore] | None:
        """The judgments of the answer, or None (with `error` set) when it is not one digit a plan."""
        raw = result if isinstance(result, BaseMessage) else None
        self.seconds = seconds
        prompt_chars = sum(len(message_text(m)) for m in self.messages)
        self.usage = call_usage(raw, price_per_mtok=self.juror.pricing, prompt_chars=prompt_chars)
        scores = batch_scores(raw, len(self.bids)) if raw is not None else None
        if scores is None:
            answer = message_text(raw) if raw is not None else repr(result)
            self.error = f"batch: not one digit a plan in the answer {answer[:200]!r}"
            return None
        records = []
        for position, (bid, (integer, expected)) in enumerate(zip(self.bids, scores, strict=True)):
            score = expected if self.scoring != "integer" and expected is not None else float(integer)
            # The request is paid once: the first judgment carries its usage and time, the others none.
            first = position == 0
            records.append(jury_record(self.juror, bid, score=score, integer=integer, expected=expected,
                                       method="batch", usage=self.usage if first else CallUsage(),
                                       seconds=self.seconds if first else 0.0, attempts=int(first)))
        return records

    def fell_back(self, records: list[JuryScore]) -> list[JuryScore]:
        """The one-plan-a-request judgments made instead; the first also carries the failed batch's cost."""
        first = records[0]
        error = first.error if first.score is not None else "; ".join(filter(None, (self.error, first.error)))
        first = first.model_copy(update={"usage": self.usage + first.usage, "latency_s": self.seconds + first.latency_s,
                                         "attempts": first.attempts + 1, "error": error})
        return [first, *records[1:]]


def judge_all(
    juror: Bidder,
    bids: Sequence[Bid],
    task: str,
    *,
    structured: Runnable[Any, Any] | None,
    scoring: JuryScoring = "digit",
    timeout: float | None = None,
) -> list[JuryScore]:
    """Score every bid with one juror in one request (sync); a single bid, or an answer that is not one digit a
    plan, is judged one request a bid (`judge`). Never raises for a model failure.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> juror = Bidder("large", ScriptedChatModel(), price_per_mtok=1.0)
        >>> bids = [Bid(auction_id="a", bidder=name, plan=f"1. {name}.") for name in ("small", "large")]
        >>> records = judge_all(juror, bids, "task", structured=None)
        >>> [r.method for r in records], sum(r.usage.calls for r in records)
        (['batch', 'batch'], 1)
    """
    if len(bids) < 2:
        return [judge(juror, bid, task, structured=structured, scoring=scoring, timeout=timeout) for bid in bids]
    batch = _Batch(juror, bids, task, scoring)
    try:
        result, seconds = invoke_bounded(batch.runnable, batch.messages, timeout=timeout, who=juror.name,
                                         limiter=juror.limiter)
        records = batch.read(result, seconds)
    except Exception as error:  # noqa: BLE001 - a failed batch falls back to one request a bid
        batch.failed(error)
        records = None
    if records is not None:
        return records
    return batch.fell_back([judge(juror, bid, task, structured=structured, scoring=scoring, timeout=timeout)
                            for bid in batch.bids])


async def ajudge_all(
    juror: Bidder,
    bids: Sequence[Bid],
    task: str,
    *,
    structured: Runnable[Any, Any] | None,
    scoring: JuryScoring = "digit",
    timeout: float | None = None,
) -> list[JuryScore]:
    """Score every bid with one juror in one request (async); see `judge_all`."""
    if len(bids) < 2:
        return [await ajudge(juror, bid, task, structured=structured, scoring=scoring, timeout=timeout)
                for bid in bids]
    batch = _Batch(juror, bids, task, scoring)
    try:
        result, seconds = await ainvoke_bounded(batch.runnable, batch.messages, timeout=timeout, who=juror.name,
                                                limiter=juror.limiter)
        records = batch.read(result, seconds)
    except Exception as error:  # noqa: BLE001 - a failed batch falls back to one request a bid
        batch.failed(error)
        records = None
    if records is not None:
        return records
    return batch.fell_back(list(await asyncio.gather(*(
        ajudge(juror, bid, task, structured=structured, scoring=scoring, timeout=timeout) for bid in batch.bids))))
