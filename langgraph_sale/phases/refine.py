"""Phase 4, the outbid round: once a leader is scored, the bidders strictly cheaper than it recall the k most similar
past auctions as (losing plan, winning plan) pairs and rewrite their bids from that contrast; the rewritten bids go
through the jury and the decision again. With memory only; at most `refine` rounds, and a round that changed
nothing ends them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.runtime import Runtime

from langgraph_sale.memory import AuctionMemory, AuctionRecord
from langgraph_sale.options import Auction
from langgraph_sale.phases.common import emit, latest_bids
from langgraph_sale.state import AuctionState
from langgraph_sale.types import Bid

__all__ = ["RecallNode", "leader_and_challengers", "outbid_due"]


class RecallNode(RunnableCallable):
    """The `recall` node: the past auctions for this round, and each challenger's rewrite request.

    Examples:
        >>> from langgraph_sale import AuctionMemory
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> RecallNode(Auction(fake_pool(), AuctionOptions(memory=AuctionMemory()))).name
        'recall'
    """

    def __init__(self, auction: Auction) -> None:
        super().__init__(self._recall, self._arecall, name="recall")
        self.auction = auction

    @property
    def memory(self) -> AuctionMemory:
        memory = self.auction.options.memory
        assert memory is not None, "the recall node exists only with memory"
        return memory

    def _recall(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        bound = self.memory.bind(runtime.store, runtime.context, config)
        return self._recalled(state, bound.recall(state["auction_task"] or ""), runtime)

    async def _arecall(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        bound = self.memory.bind(runtime.store, runtime.context, config)
        return self._recalled(state, await bound.arecall(state["auction_task"] or ""), runtime)

    def _recalled(self, state: AuctionState, records: Sequence[AuctionRecord], runtime: Runtime[Any]
                  ) -> dict[str, Any]:
        refine_state = state.get("auction_refine") or {}
        number = int(refine_state.get("round", 0)) + 1
        _, challengers = leader_and_challengers(self.auction, state)
        requests: dict[str, Any] = {}
        for name, bid in challengers.items():
            pairs = [pair for record in records if (pair := record.pair_for(name)) is not None]
            if pairs:  # a bidder absent from every recalled auction has nothing to learn from
                requests[name] = {"current_plan": bid.plan, "contrast": [p.model_dump() for p in pairs]}
        emit(runtime, "outbid_round", auction_id=state["auction_id"], round=number, recalled=len(records),
             bidders=sorted(requests))
        return {"auction_refine": {"round": number, "recalled": len(records), "requests": requests,
                                   "recalled_total": int(refine_state.get("recalled_total", 0)) + len(records)}}


def leader_and_challengers(auction: Auction, state: Mapping[str, Any]) -> tuple[str | None, dict[str, Bid]]:
    """The scored leader and the bidders strictly cheaper than it, with their latest bids (none: no scored leader,
    after a fallback or with no bids)."""
    leader = state.get("auction_winner")
    if not leader or leader not in state.get("auction_scores", {}):
        return None, {}
    return leader, {name: bid for name, bid in latest_bids(state).items()
                    if auction.prices[name] < auction.prices[leader]}


def outbid_due(auction: Auction, state: Mapping[str, Any]) -> bool:
    """Whether another outbid round runs: rounds are left, the last one changed the winner, someone may challenge."""
    rounds = auction.options.refine_rounds
    if rounds == 0:
        return False
    refine_state = state.get("auction_refine") or {}
    done = int(refine_state.get("round", 0))
    if done >= rounds or (done and not refine_state.get("outbid")):
        return False  # rounds spent, or the last round changed nothing
    return bool(leader_and_challengers(auction, state)[1])
