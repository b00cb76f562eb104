"""Phase 2, the jury: one `Send` per juror over the bids it judges (`jury_batch`), else per (juror, bid); a juror
scores each plan 0-5, blind to its author; a juror that fails or answers nothing usable is recorded with its error,
and the scoring goes on without it."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

from langgraph._internal._runnable import RunnableCallable
from langgraph.errors import NodeError
from langgraph.runtime import Runtime
from langgraph.types import Command

from langgraph_sale.jury_batch import ajudge_all, judge_all
from langgraph_sale.options import Auction
from langgraph_sale.phases.common import emit
from langgraph_sale.state import JudgeRequest
from langgraph_sale.types import Bid, JuryScore

__all__ = ["JudgeNode", "panel"]


class JudgeNode(RunnableCallable):
    """The `judge` node: one juror's scores of the bids it was sent.

    Examples:
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> JudgeNode(Auction(fake_pool(), AuctionOptions())).name
        'judge'
    """

    def __init__(self, auction: Auction) -> None:
        super().__init__(self._judge, self._ajudge, name="judge")
        self.auction = auction

    def _judge(self, request: JudgeRequest, runtime: Runtime[Any]) -> dict[str, Any]:
        options, juror = self.auction.options, request["juror"]
        records = judge_all(self.auction.pool[juror], _bids(request), request["task"],
                            structured=self.auction.structured[juror], scoring=options.jury_scoring,
                            timeout=options.bid_timeout)
        return judged(records, runtime)

    async def _ajudge(self, request: JudgeRequest, runtime: Runtime[Any]) -> dict[str, Any]:
        options, juror = self.auction.options, request["juror"]
        records = await ajudge_all(self.auction.pool[juror], _bids(request), request["task"],
                                   structured=self.auction.structured[juror], scoring=options.jury_scoring,
                                   timeout=options.bid_timeout)
        return judged(records, runtime)

    def failed(self, request: JudgeRequest, error: NodeError, runtime: Runtime[Any]) -> Command[Any]:
        """The node's error handler: each judgment is recorded with the error; scoring goes on without them."""
        note = f"{type(error.error).__name__}: {error.error}"[:500]
        records = [JuryScore(auction_id=request["auction_id"], juror=request["juror"], bidder=bid["bidder"],
                             bid_id=bid["id"], phase=bid.get("phase", "bid"), round=bid.get("round", 0), error=note)
                   for bid in request["bids"]]
        return Command(goto="score", update=judged(records, runtime))


def _bids(request: JudgeRequest) -> list[Bid]:
    return [Bid.model_validate(bid) for bid in request["bids"]]


def judged(records: Sequence[JuryScore], runtime: Runtime[Any]) -> dict[str, Any]:
    """The judgments' events and their state update."""
    for record in records:
        emit(runtime, "jury_scored", auction_id=record.auction_id, juror=record.juror, bidder=record.bidder,
             score=record.score, error=record.error)
    return {"auction_jury": [record.to_state() for record in records]}


def panel(auction: Auction, bid: Bid, task: str) -> list[str]:
    """The jurors who judge `bid`: every active juror, or, with `jury=m`, m of them drawn by a seed of the task and
    the author, always with the author (self-assessment is part of the design).

    Examples:
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> auction = Auction(fake_pool(), AuctionOptions(jury=1))
        >>> panel(auction, Bid(auction_id="a", bidder="small", phase="bid", plan="p"), "t")
        ['small']
    """
    jury = auction.options.jury
    if isinstance(jury, bool):
        return list(auction.jurors)
    others = [name for name in auction.jurors if name != bid.bidder]
    seed = hashlib.sha256(f"{task}\x00{bid.bidder}".encode()).hexdigest()
    author = [bid.bidder] if bid.bidder in auction.jurors else []
    chosen = random.Random(seed).sample(others, min(len(others), jury - len(author)))
    return [name for name in auction.jurors if name in author or name in chosen]
