"""Phase 5b, with `escalate`: the answer is checked, and a rejected one hands the task to a costlier bidder.

`check_execution` follows every `execute_<bidder>` node. It asks the `Escalate` check about the answer (a failed
execution is rejected without asking), and where it is rejected and someone is left up the price ladder
(`langgraph_sale.escalation.next_bidder`), moves the run into the execution's `rejected` list, takes its answer out
of `messages`, and names the bidder who runs next (`handoff`); `Routes.after_check` sends the task there. The check is
not asked where nobody is left: its verdict could change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import RemoveMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.runtime import Runtime

from langgraph_sale.budget import Budget
from langgraph_sale.escalation import Escalate, next_bidder
from langgraph_sale.options import Auction
from langgraph_sale.phases.common import averdict, bids_of, emit, jury_of, usage_by_phase, verdict
from langgraph_sale.state import AuctionState

__all__ = ["CheckExecution"]


class CheckExecution(RunnableCallable):
    """The `check_execution` node (with `escalate` only).

    Examples:
        >>> from langgraph_sale.escalation import Escalate
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> options = AuctionOptions(escalate=Escalate(lambda task, answer: True))
        >>> CheckExecution(Auction(fake_pool(), options)).name
        'check_execution'
    """

    def __init__(self, auction: Auction) -> None:
        super().__init__(self._check, self._acheck, name="check_execution")
        self.auction = auction
        escalate = auction.options.escalate
        if escalate is None:
            raise ValueError("CheckExecution needs an auction with escalate=Escalate(check)")
        self.escalate: Escalate = escalate

    def _check(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        execution, successor = self._successor(state)
        if successor is None or self._failed(execution):
            return self._after(state, execution, successor, None, runtime)
        return self._after(state, execution, successor,
                           verdict(self.escalate.check, state["auction_task"] or "", execution["answer"]), runtime)

    async def _acheck(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        execution, successor = self._successor(state)
        if successor is None or self._failed(execution):
            return self._after(state, execution, successor, None, runtime)
        return self._after(state, execution, successor,
                           await averdict(self.escalate.check, state["auction_task"] or "", execution["answer"]),
                           runtime)

    @staticmethod
    def _failed(execution: Mapping[str, Any]) -> bool:
        return bool(execution.get("error")) or execution.get("answer") is None

    def _successor(self, state: AuctionState) -> tuple[dict[str, Any], str | None]:
        """The execution to check, and who would run next if it is rejected (None: nobody is left)."""
        execution = dict(state.get("auction_execution") or {})
        rejected = execution.get("rejected", [])
        limit = self.escalate.max_handoffs
        if not execution.get("bidder") or (limit is not None and len(rejected) >= limit):
            return execution, None
        budget = Budget.from_state(state.get("auction_budget"))
        spent = sum(u.cost_usd for u in usage_by_phase(bids_of(state), jury_of(state), execution).values())
        ran = [run["bidder"] for run in rejected] + [execution["bidder"]]
        successor = next_bidder(ran, self.auction.prices, self.auction.names, state.get("auction_scores") or {},
                                fits=None if budget is None else lambda name: budget.fits(name, spent=spent))
        return execution, successor

    def _after(self, state: AuctionState, execution: dict[str, Any], successor: str | None,
               said: bool | Exception | None, runtime: Runtime[Any]) -> dict[str, Any]:
        if isinstance(said, Exception):  # a broken check keeps the answer: it must not spend money
            return {"auction_execution": {**execution, "check_error": f"{type(said).__name__}: {said}"[:500]}}
        if said is True:
            return {"auction_execution": {**execution, "checked": True}}
        if successor is None or (said is None and not self._failed(execution)):
            return {}
        run = {key: execution.get(key) for key in ("bidder", "answer", "usage", "wall_s", "error", "delivery")}
        run["checked"] = False if said is False else None
        emit(runtime, "escalated", auction_id=state.get("auction_id"), rejected=execution["bidder"],
             handoff=successor, reason="the check rejected the answer" if said is False else "the execution failed")
        update: dict[str, Any] = {"auction_execution": {"rejected": [*execution.get("rejected", []), run],
                                                        "handoff": successor}}
        if execution.get("message_id"):
            update["messages"] = [RemoveMessage(id=execution["message_id"])]
        return update
