"""Skipping the auction where memory says it cannot pay for itself.

An auction costs every bid and every jury call before anyone executes. On short tasks that overhead outweighs
anything a cheaper winner can save: measured on the local pool, a 2-bidder auction costs about 3,000 tokens while
a one-shot coding execution costs 600 (docs/RESULTS.md). `SkipAuction` lets an auction look at the similar past
auctions memory recalls first: when their auctions cost at least `overhead_ratio` times what their executions
cost, the auction is skipped, and the bidder that did best on those similar tasks executes the task without a plan.

Who runs: with known outcomes (an `evaluate` hook), the bidder with the best smoothed success rate on the recalled
tasks, `(successes + 1) / (executions + 2)` (a bidder never seen counts 1/2), the cheaper one on a tie; without
them, the bidder that won most of the recalled auctions, the cheaper one on a tie: the auction's own likely choice,
at none of its cost. Skipped runs are remembered too (with no bids), so the outcomes keep accumulating; only
auctions that were held count towards the overhead, so a run of skips cannot talk itself into more skips.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from langgraph_sale.memory import AuctionRecord

__all__ = ["SkipAuction", "SkipChoice", "skip_choice"]


class SkipAuction(BaseModel):
    """When an auction with memory is skipped (`create_auction(skip=SkipAuction())`).

    Attributes:
        overhead_ratio: Skip when the recalled auctions' own calls (bids, jury, outbid rounds) cost at least this
            many times their executions, on average. 1.0: skip where an auction costs more than the execution it
            chooses, so it could not pay for itself even if it always picked a free agent.
        min_recalled: Held auctions that must be recalled before any skip; fewer, and the auction runs.

    Examples:
        >>> SkipAuction().overhead_ratio, SkipAuction(min_recalled=5).min_recalled
        (1.0, 5)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    overhead_ratio: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
    min_recalled: int = Field(default=3, ge=1)


@dataclass(frozen=True)
class SkipChoice:
    """A skipped auction's winner and the reason written into its outcome."""

    winner: str
    reason: str


def skip_choice(records: Sequence[AuctionRecord], prices: Mapping[str, float], order: Sequence[str],
                rule: SkipAuction) -> SkipChoice | None:
    """The bidder to run without an auction, or None when the auction should be held.

    Examples:
        >>> from langgraph_sale.memory import MemoryBid
        >>> held = [AuctionRecord(auction_id=str(i), task="t", winner="small", bids=[MemoryBid(bidder="small",
        ...         plan="1. Do it.")], cost_usd=1.0, execute_cost_usd=0.25) for i in range(3)]
        >>> skip_choice(held, {"small": 0.1, "large": 1.0}, ["small", "large"], SkipAuction()).winner
        'small'
        >>> skip_choice(held[:2], {"small": 0.1, "large": 1.0}, ["small", "large"], SkipAuction()) is None
        True
    """
    executed = [r for r in records if r.winner in prices and r.status == "executed"]
    held = [r for r in executed if r.held]
    if len(held) < rule.min_recalled:
        return None
    overhead = statistics.fmean(max(0.0, r.cost_usd - r.execute_cost_usd) for r in held)
    execution = statistics.fmean(r.execute_cost_usd for r in executed)
    if overhead < rule.overhead_ratio * execution:
        return None
    rank = {name: (prices[name], position) for position, name in enumerate(order) if name in prices}
    judged = [r for r in executed if r.success_known]
    if judged:
        rates = {name: (sum(bool(r.success) for r in judged if r.winner == name) + 1)
                 / (sum(r.winner == name for r in judged) + 2) for name in rank}
        winner = min(rank, key=lambda name: (-rates[name], rank[name]))
        why = f"best smoothed success rate {rates[winner]:.2f} on {len(judged)} judged similar tasks"
    else:
        wins = Counter(r.winner for r in executed)
        winner = min(rank, key=lambda name: (-wins[name], rank[name]))
        why = f"won {wins[winner]} of {len(executed)} similar tasks"
    ratio = overhead / execution if execution > 0 else float("inf")
    return SkipChoice(winner, f"skipped: {len(held)} similar auctions cost {ratio:.1f}x their executions "
                              f"(threshold {rule.overhead_ratio:g}x); {winner} {why}")
