"""Phase 5, execution: the winner runs the task in its own subgraph (its `agent`, or the default executor), guided
by its plan unless `plan_guidance=False`, bounded by `execute_timeout`. A failure is recorded in the outcome; what was
paid for (bids, scores) stays in state. With `escalate`, a bidder the task was handed to runs the same way, guided by
its own plan, and the runs a check rejected are carried along in the execution's `rejected` list."""

from __future__ import annotations

import time
import uuid
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.errors import NodeError
from langgraph.runtime import Runtime
from langgraph.types import Command

from langgraph_sale.bidder import Bidder
from langgraph_sale.calls import ainvoke_bounded, invoke_bounded
from langgraph_sale.executor import default_executor, execution_input, read_execution
from langgraph_sale.options import Auction
from langgraph_sale.phases.common import emit, latest_bids
from langgraph_sale.state import AuctionState
from langgraph_sale.types import CallUsage

__all__ = ["ExecuteNode"]


class ExecuteNode(RunnableCallable):
    """The `execute_<bidder>` node of one bidder: its agent (or default executor) on the task and plan.

    Examples:
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> pool = fake_pool()
        >>> ExecuteNode(Auction(pool, AuctionOptions()), pool[0]).name
        'execute_tiny'
    """

    def __init__(self, auction: Auction, bidder: Bidder) -> None:
        super().__init__(self._execute, self._aexecute, name=f"execute_{bidder.name}")
        self.auction, self.bidder = auction, bidder
        self.agent = bidder.agent if bidder.agent is not None else default_executor(
            bidder, max_steps=auction.options.max_steps)

    # The execution is bounded like a bid (a model that hangs must not hang the auction); its own model calls take
    # their limiter slots inside the executor.
    def _execute(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        sent, started = self._sent(state), time.perf_counter()
        result, _ = invoke_bounded(self.agent, sent, timeout=self.auction.options.execute_timeout,
                                   who=self.bidder.name, config=config)
        return self._executed(read_execution(sent, result, self.bidder, started), state, runtime)

    async def _aexecute(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        sent, started = self._sent(state), time.perf_counter()
        result, _ = await ainvoke_bounded(self.agent, sent, timeout=self.auction.options.execute_timeout,
                                          who=self.bidder.name, config=config)
        return self._executed(read_execution(sent, result, self.bidder, started), state, runtime)

    def _sent(self, state: AuctionState) -> dict[str, Any]:
        return execution_input(state["auction_task"] or "", self._plan(state),
                               guided=self.auction.options.plan_guidance)

    def _plan(self, state: AuctionState) -> str:
        """The winner's plan; a bidder the task was handed to (`escalate`) follows its own latest bid."""
        if self.bidder.name == state.get("auction_winner"):
            return state.get("auction_plan") or ""
        bid = latest_bids(state).get(self.bidder.name)
        return bid.plan if bid is not None else ""

    @staticmethod
    def _rejected(state: AuctionState) -> dict[str, Any]:
        """The earlier runs a check rejected (`escalate`), carried into this run's record."""
        rejected = (state.get("auction_execution") or {}).get("rejected")
        return {"rejected": rejected} if rejected else {}

    def _executed(self, result: dict[str, Any], state: AuctionState, runtime: Runtime[Any]) -> dict[str, Any]:
        emit(runtime, "executed", auction_id=state["auction_id"], bidder=self.bidder.name,
             answer=result["answer"][:500], cost_usd=result["usage"]["cost_usd"])
        # An id of its own, so that a check that rejects this answer can take it out of `messages` again.
        message = AIMessage(content=result["answer"], name=self.bidder.name, id=f"sale-answer-{uuid.uuid4().hex}")
        return {"messages": [message],
                "auction_execution": {**result, "message_id": message.id, **self._rejected(state)}}

    def failed(self, state: AuctionState, error: NodeError, runtime: Runtime[Any]) -> Command[Any]:
        """The node's error handler: the failure goes into the outcome instead of losing the bids and scores."""
        message = f"{type(error.error).__name__}: {error.error}"[:2000]
        emit(runtime, "execution_failed", auction_id=state.get("auction_id"), error=message)
        return Command(goto="check_execution" if self.auction.options.escalate else "record_outcome",
                       update={"auction_execution": {
                           "bidder": self.bidder.name, "answer": None, "usage": CallUsage().to_state(),
                           "wall_s": 0.0, "error": message, **self._rejected(state)}})
