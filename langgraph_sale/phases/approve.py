"""Optional phase: a person approves the decision before anyone runs (`approve=True`). The run pauses with
`interrupt()` outside the parallel branches (it needs a checkpointer) and resumes with `Command(resume=...)`:
True to accept, `{"winner": "<name>"}` to override, False to run nobody."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph._internal._runnable import RunnableCallable
from langgraph.types import interrupt

from langgraph_sale.errors import AuctionInputError
from langgraph_sale.options import Auction
from langgraph_sale.phases.common import latest_bids
from langgraph_sale.state import AuctionState

__all__ = ["ApproveNode"]

_ACCEPT, _REJECT = ("accept", "yes"), ("reject", "no")


class ApproveNode(RunnableCallable):
    """The `approve` node.

    Examples:
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> ApproveNode(Auction(fake_pool(), AuctionOptions(approve=True))).name
        'approve'
    """

    def __init__(self, auction: Auction) -> None:
        super().__init__(self._approve, name="approve")
        self.auction = auction

    def _approve(self, state: AuctionState) -> dict[str, Any]:
        winner = state.get("auction_winner")
        scores = state.get("auction_scores") or {}
        answer = interrupt({
            "auction_id": state["auction_id"],
            "task": state.get("auction_task"),
            "winner": winner,
            "plan": state.get("auction_plan"),
            "reason": (state.get("auction_run") or {}).get("reason"),
            "scores": {name: breakdown.get("score") for name, breakdown in scores.items()},
            "choices": self.auction.names,
            "resume_with": 'True to accept, {"winner": "<name>"} to override, False to run nobody',
        })
        notes = {**(state.get("auction_run") or {}), "approved_by": "person"}
        chosen = answer.get("winner", winner) if isinstance(answer, Mapping) else winner
        if answer is False or (isinstance(answer, str) and answer.lower() in _REJECT) or (
                isinstance(answer, Mapping) and answer.get("winner", winner) is None):
            notes.update(status="rejected", reason=f"rejected: a person declined {winner}", fallback=False)
            return {"auction_winner": None, "auction_plan": "", "auction_run": notes}
        if not (answer is True or answer is None or isinstance(answer, Mapping)
                or (isinstance(answer, str) and answer.lower() in _ACCEPT)):
            raise AuctionInputError("resume", f"must be True, False or {{'winner': <name>}}, got {answer!r}")
        if chosen not in self.auction.names:
            raise AuctionInputError("resume.winner", f"must be one of {self.auction.names}, got {chosen!r}")
        if chosen == winner:
            return {"auction_run": notes}
        notes.update(reason=f"override: a person chose {chosen} over {winner}", fallback=False)
        latest = latest_bids(state).get(chosen)
        return {"auction_winner": chosen, "auction_plan": latest.plan if latest is not None else "",
                "auction_run": notes}
