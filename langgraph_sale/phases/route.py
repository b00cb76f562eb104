"""Where the auction goes next: the conditional edges between the phases, as one object over the `Auction`.

The fan-outs return `Send`s (one per bidder, one per (juror, bid), one per challenger); with nothing to send they
route on. After a decision the run goes to `approve` (with `approve=True`), to the winner's `execute_<name>` node
(`route="internal"`), or to `record_outcome`; with `escalate`, after `check_execution` to the bidder the task was
handed to, or to `record_outcome`.
"""

from __future__ import annotations

from langgraph.types import Send

from langgraph_sale.budget import Budget
from langgraph_sale.options import Auction
from langgraph_sale.phases.judge import panel
from langgraph_sale.phases.refine import outbid_due
from langgraph_sale.state import AuctionState, BidRequest, JudgeRequest
from langgraph_sale.types import Bid

__all__ = ["Routes"]


class Routes:
    """The auction's conditional edges (each method is one).

    Examples:
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> routes = Routes(Auction(fake_pool(), AuctionOptions()))
        >>> routes.decided({"auction_winner": "small"}), routes.decided({"auction_winner": None})
        ('execute_small', 'record_outcome')
    """

    def __init__(self, auction: Auction) -> None:
        self.auction = auction

    def send_bids(self, state: AuctionState) -> list[Send] | str:
        """After opening: one bid per bidder that fits the budget (none asked past it: its bid could never win);
        straight to the decision when memory said to skip the auction."""
        if state.get("auction_winner"):
            return self.decided(state)
        budget = Budget.from_state(state.get("auction_budget"))
        sends = [
            Send("bid", BidRequest(auction_id=state["auction_id"], bidder=name, task=state["auction_task"] or "",
                                   phase="bid", round=0, current_plan="", contrast=[]))
            for name in self.auction.names
            if budget is None or budget.fits(name, spent=0.0)
        ]
        return sends or "score"

    def send_judgments(self, state: AuctionState) -> list[Send] | str:
        """After the bids of a round (the first, or an outbid round's rewrites): one request per juror over the bids
        it judges (`jury_batch`), else one per (juror, bid)."""
        records = state.get("auction_bids", [])
        latest = max((b.get("round", 0) for b in records), default=0)
        bids = [Bid.model_validate(b) for b in records if b.get("round", 0) == latest]
        task = state["auction_task"] or ""
        # Who judges what: each juror the bids whose panel it sits on.
        judged: dict[str, list[Bid]] = {}
        for bid in bids:
            if bid.ok:
                for juror in panel(self.auction, bid, task):
                    judged.setdefault(juror, []).append(bid)
        batches = ([(juror, group) for juror, group in judged.items()] if self.auction.options.jury_batch
                   else [(juror, [bid]) for juror, group in judged.items() for bid in group])
        sends = [Send("judge", JudgeRequest(auction_id=state["auction_id"], juror=juror, task=task,
                                            bids=[bid.to_state() for bid in group]))
                 for juror, group in batches]
        return sends or "score"

    def after_score(self, state: AuctionState) -> str:
        """After a decision: another outbid round when one is due, else on as decided."""
        return "recall" if outbid_due(self.auction, state) else self.decided(state)

    def send_refines(self, state: AuctionState) -> list[Send] | str:
        """After recalling: one rewrite per challenger with something to learn from; none, and the round is
        skipped (empty memory, or no challenger in any recalled auction)."""
        refine_state = state.get("auction_refine") or {}
        sends = [
            Send("bid", BidRequest(auction_id=state["auction_id"], bidder=name, task=state["auction_task"] or "",
                                   phase="refine", round=refine_state["round"], current_plan=request["current_plan"],
                                   contrast=request["contrast"]))
            for name, request in (refine_state.get("requests") or {}).items()
        ]
        return sends or self.decided(state)

    def decided(self, state: AuctionState) -> str:
        """The decision is made: a person approves it first (with `approve=True`), else it is carried out."""
        return "approve" if self.auction.options.approve and state.get("auction_winner") else self.carried_out(state)

    def carried_out(self, state: AuctionState) -> str:
        """The winner executes here (`route="internal"`), or the outcome is recorded (decided, or nobody runs)."""
        winner = state.get("auction_winner")
        return f"execute_{winner}" if self.auction.options.route == "internal" and winner else "record_outcome"

    def after_check(self, state: AuctionState) -> str:
        """After `check_execution` (`escalate`): the bidder the task was handed to, else the outcome."""
        handoff = (state.get("auction_execution") or {}).get("handoff")
        return f"execute_{handoff}" if handoff else "record_outcome"
