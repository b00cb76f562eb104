"""Phase 3, the decision: every bid scores cost minus value (`CostValueScorer`) and the lowest score wins; after an
outbid round the rewritten bids are scored against the leader's and take the win only with a strictly lower score.
With a budget only bidders whose expected execution fits what is left may win; with no valid bid the fallback runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph._internal._runnable import RunnableCallable
from langgraph.runtime import Runtime

from langgraph_sale.budget import Budget
from langgraph_sale.options import Auction
from langgraph_sale.phases.common import bids_of, emit, jury_of, ledger, usage_by_phase
from langgraph_sale.state import AuctionState
from langgraph_sale.types import Bid, JuryScore, ScoreBreakdown

__all__ = ["ScoreNode"]


class ScoreNode(RunnableCallable):
    """The `score` node: the first decision, or, after an outbid round, the rescoring that may change it.

    Examples:
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> ScoreNode(Auction(fake_pool(), AuctionOptions(fallback=False))).fallback_choice([])
        (None, 'no_bids: no valid bid (none); fallback disabled')
    """

    def __init__(self, auction: Auction) -> None:
        super().__init__(self._score, name="score")  # no async body: it waits on nothing
        self.auction = auction

    def _score(self, state: AuctionState, runtime: Runtime[Any]) -> dict[str, Any]:
        bids, jury_records = bids_of(state), jury_of(state)
        latest = max((b.round for b in bids), default=0)
        phases = usage_by_phase(bids, jury_records, None)
        spent = sum(usage.cost_usd for usage in phases.values())
        decision = (self._rescore(state, bids, jury_records, latest, spent, runtime) if latest
                    else self._first_score(state, bids, jury_records, spent, runtime))
        clock = {**state.get("auction_clock", {}), "decided": time.time()}
        return {**decision, **ledger(phases), "auction_clock": clock}

    def _first_score(self, state: AuctionState, bids: Sequence[Bid], jury_records: Sequence[JuryScore], spent: float,
                     runtime: Runtime[Any]) -> dict[str, Any]:
        auction = self.auction
        scorer = auction.options.scorer
        table = scorer.score(bids, jury_records, prices=auction.prices, max_bid_tokens=auction.options.max_bid_tokens,
                             task=state["auction_task"] or "")
        winner = scorer.winner(self._affordable(state, table, spent), prices=auction.prices, order=auction.names)
        plan, notes = "", {"reason": "lowest score (cost - value)"}
        if winner is None:
            winner, notes = self._without_a_bid(state, bids, spent)
        else:
            plan = next(b.plan for b in bids if b.id == table[winner].bid_id)
        update = _scored(table, bids, runtime) if table else {}
        emit(runtime, "winner", auction_id=state["auction_id"], winner=winner, reason=notes["reason"],
             score=table[winner].score if winner in table else None)
        return {
            **update,
            "auction_scores": {name: breakdown.to_state() for name, breakdown in table.items()},
            "auction_provisional": winner,
            "auction_winner": winner,
            "auction_plan": plan or "",
            "auction_run": {**(state.get("auction_run") or {}), **notes},
        }

    def _without_a_bid(self, state: AuctionState, bids: Sequence[Bid], spent: float
                       ) -> tuple[str | None, dict[str, Any]]:
        """No affordable valid bid: the fallback runs without a plan, unless it is off or the budget leaves it
        nothing (the auction then ends `no_bids` or `over_budget`)."""
        winner, reason = self.fallback_choice(bids)
        budget = Budget.from_state(state.get("auction_budget"))
        if budget is not None and (winner is None or not budget.fits(winner, spent=spent)):
            left = budget.budget_usd - spent
            return None, {"status": "over_budget", "reason": f"over_budget: ${left:.8f} of ${budget.budget_usd:.8f} "
                          "left after the auction's own calls; no bidder's expected execution fits"}
        if winner is None:
            return None, {"status": "no_bids", "reason": reason}
        return winner, {"fallback": True, "reason": reason}

    def _rescore(self, state: AuctionState, bids: Sequence[Bid], jury_records: Sequence[JuryScore], latest: int,
                 spent: float, runtime: Runtime[Any]) -> dict[str, Any]:
        # The rewritten bids are scored on every term, jury included, against the leader's bid under the same
        # scaling (entropy is used only if every bid of the auction has it); only a strictly lower score wins.
        auction = self.auction
        scorer = auction.options.scorer
        leader = state["auction_winner"] or ""
        leader_bid_id = state["auction_scores"][leader]["bid_id"]
        leader_bid = next(b for b in bids if b.id == leader_bid_id)
        rewritten = [b for b in bids if b.round == latest and b.ok]
        table = scorer.score([leader_bid, *rewritten], jury_records, prices=auction.prices,
                             max_bid_tokens=auction.options.max_bid_tokens, entropy_bids=[b for b in bids if b.ok],
                             task=state["auction_task"] or "")
        challengers = {name: breakdown for name, breakdown in self._affordable(state, table, spent).items()
                       if name != leader}
        best = scorer.winner(challengers, prices=auction.prices, order=auction.names)
        notes = dict(state.get("auction_run") or {})
        update: dict[str, Any] = {}
        if best is not None and challengers[best].score < table[leader].score:
            notes["reason"] = (f"outbid: {best}'s rewritten bid scored {challengers[best].score:.4f}, below "
                               f"{leader}'s {table[leader].score:.4f}")
            update = {"auction_winner": best, "auction_plan": next(b.plan for b in rewritten if b.bidder == best)}
            emit(runtime, "winner", auction_id=state["auction_id"], winner=best, reason=notes["reason"],
                 score=challengers[best].score)
        return {
            **_scored(table, [leader_bid, *rewritten], runtime),
            **update,
            "auction_scores": {**state.get("auction_scores", {}),
                               **{name: breakdown.to_state() for name, breakdown in table.items()}},
            "auction_run": notes,
            "auction_refine": {**state.get("auction_refine", {}), "outbid": bool(update)},
        }

    def _affordable(self, state: AuctionState, table: Mapping[str, ScoreBreakdown], spent: float
                    ) -> dict[str, ScoreBreakdown]:
        # With a budget, only bidders whose expected execution fits what the auction has left may win.
        budget = Budget.from_state(state.get("auction_budget"))
        return {name: breakdown for name, breakdown in table.items()
                if budget is None or budget.fits(name, spent=spent)}

    def fallback_choice(self, bids: Sequence[Bid]) -> tuple[str | None, str]:
        """Who runs when no bid survives, and why: the configured fallback, the most expensive bidder, or nobody."""
        fallback = self.auction.options.fallback
        failed = ", ".join(f"{b.bidder} ({b.error})" for b in bids if not b.ok) or "none"
        if fallback is False:
            return None, f"no_bids: no valid bid ({failed}); fallback disabled"
        if isinstance(fallback, str):
            return fallback, f"fallback: no valid bid ({failed}); configured fallback {fallback} runs without a plan"
        largest = self.auction.largest
        return largest, f"fallback: no valid bid ({failed}); the most expensive bidder {largest} runs without a plan"


def _scored(table: Mapping[str, ScoreBreakdown], bids: Sequence[Bid], runtime: Runtime[Any]) -> dict[str, Any]:
    # Every bid keeps its own breakdown in `auction_bids`; `auction_scores` holds each bidder's latest.
    by_id = {breakdown.bid_id: breakdown for breakdown in table.values()}
    for name, breakdown in table.items():
        emit(runtime, "bid_scored", auction_id=bids[0].auction_id, bidder=name, phase=breakdown.phase,
             round=breakdown.round, score=breakdown.score, C=breakdown.C, V=breakdown.V, H=breakdown.H,
             J=breakdown.J)
    return {"auction_bids": [bid.model_copy(update={"breakdown": by_id[bid.id]}).to_state()
                             for bid in bids if bid.id in by_id]}
