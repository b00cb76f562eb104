"""Phase 1, sealed bids: one `Send` per bidder (and per challenger in an outbid round), each a short plan with its
tokens and entropy; a bid whose retries are spent is recorded as failed and the others go on."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from langgraph._internal._runnable import RunnableCallable
from langgraph.errors import NodeError
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy

from langgraph_sale.bidding import amake_bid, failed_bid, make_bid
from langgraph_sale.options import Auction
from langgraph_sale.phases.common import bids_of, emit, ledger, usage_by_phase
from langgraph_sale.state import AuctionState, BidRequest
from langgraph_sale.types import Bid

__all__ = ["BidNode", "collect_bids"]


class BidNode(RunnableCallable):
    """The `bid` node: one bidder's plan for one `BidRequest` (a first bid, or a rewrite in an outbid round).

    Examples:
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> BidNode(Auction(fake_pool(), AuctionOptions())).name
        'bid'
    """

    def __init__(self, auction: Auction) -> None:
        super().__init__(self._bid, self._abid, name="bid")
        self.auction = auction

    def _bid(self, request: BidRequest, runtime: Runtime[Any]) -> dict[str, Any]:
        options = self.auction.options
        bid = make_bid(dict(request), self.auction.pool[request["bidder"]], max_tokens=options.max_bid_tokens,
                       timeout=options.bid_timeout, screening=options.screen_plans,
                       plan_format=options.plan_format)
        return submitted(bid, runtime)

    async def _abid(self, request: BidRequest, runtime: Runtime[Any]) -> dict[str, Any]:
        options = self.auction.options
        bid = await amake_bid(dict(request), self.auction.pool[request["bidder"]], max_tokens=options.max_bid_tokens,
                              timeout=options.bid_timeout, screening=options.screen_plans,
                              plan_format=options.plan_format)
        return submitted(bid, runtime)

    def failed(self, request: BidRequest, error: NodeError, runtime: Runtime[Any]) -> Command[Any]:
        """The node's error handler: the retries are spent, so the failure is recorded and the other bids go on.
        A `Command` and not a dict: a dict from a handler ends the run when every branch fails."""
        bid = failed_bid(dict(request), error.error, attempts=attempts_made(self.auction.options.bid_retry,
                                                                             error.error))
        return Command(goto="collect_bids", update=submitted(bid, runtime))


def submitted(bid: Bid, runtime: Runtime[Any]) -> dict[str, Any]:
    """A bid's event and its state update."""
    if bid.ok:
        emit(runtime, "bid_submitted", auction_id=bid.auction_id, bidder=bid.bidder, plan_tokens=bid.plan_tokens,
             entropy=bid.entropy, latency_s=bid.latency_s, plan=bid.plan[:300], flags=bid.flags)
    else:
        emit(runtime, "bid_failed", auction_id=bid.auction_id, bidder=bid.bidder, error=bid.error)
    return {"auction_bids": [bid.to_state()]}


def collect_bids(state: AuctionState) -> dict[str, Any]:
    """The `collect_bids` node, between the two fan-outs: the ledger so far. (A conditional edge hung on a `Send`
    target would fire once per branch.)"""
    return {**ledger(usage_by_phase(bids_of(state), [], None)),
            "auction_clock": {**state.get("auction_clock", {}), "bids_done": time.time()}}


def attempts_made(policy: RetryPolicy | Sequence[RetryPolicy] | None, error: BaseException) -> int:
    """How many attempts LangGraph made before giving up on `error` (its first matching policy's max_attempts)."""
    policies = [policy] if isinstance(policy, RetryPolicy) else list(policy or [])
    for candidate in policies:
        retry_on = candidate.retry_on
        if isinstance(retry_on, type):
            matches = isinstance(error, retry_on)
        elif isinstance(retry_on, Sequence):
            matches = isinstance(error, tuple(retry_on))
        else:
            matches = isinstance(error, Exception) and bool(retry_on(error))
        if matches:
            return candidate.max_attempts
    return 1
