"""Phase 0, opening: the task is taken, memory's store and scope are checked before anything is paid for, similar
past auctions are recalled where a budget or a skip rule reads them, and the auction opens, or is skipped."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable  # sync + async node bodies, as langgraph's ToolNode
from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from langgraph_sale.budget import Budget, budget_of, expected_execution_usd
from langgraph_sale.errors import AuctionInputError
from langgraph_sale.memory import AuctionRecord, BoundMemory
from langgraph_sale.metrics import message_text
from langgraph_sale.options import Auction
from langgraph_sale.phases.common import emit
from langgraph_sale.skipping import skip_choice
from langgraph_sale.state import AuctionState

__all__ = ["OpenAuction", "task_of"]


class OpenAuction(RunnableCallable):
    """The `open_auction` node: a fresh auction id, the task, the budget, and the skip decision.

    Examples:
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> node = OpenAuction(Auction(fake_pool(), AuctionOptions()))
        >>> node.name
        'open_auction'
    """

    def __init__(self, auction: Auction) -> None:
        super().__init__(self._open, self._aopen, name="open_auction")
        self.auction = auction

    def _open(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        task, message_id, budget_usd, memory = self._opening(state, config, runtime)
        records = memory.recall(task) if memory is not None and self._recalls(budget_usd) else []
        return self._opened(task, message_id, budget_usd, records, runtime)

    async def _aopen(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        task, message_id, budget_usd, memory = self._opening(state, config, runtime)
        records = await memory.arecall(task) if memory is not None and self._recalls(budget_usd) else []
        return self._opened(task, message_id, budget_usd, records, runtime)

    def _recalls(self, budget_usd: float | None) -> bool:
        # Similar past auctions tell a budget what executions cost, and a skip rule whether to hold the auction.
        return budget_usd is not None or self.auction.options.skip is not None

    def _opening(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]
                 ) -> tuple[str, str | None, float | None, BoundMemory | None]:
        task, message_id = task_of(state)
        options = self.auction.options
        # Binding memory resolves its store and scope: a missing one fails here, before anything is paid for.
        memory = options.memory.bind(runtime.store, runtime.context, config) if options.memory is not None else None
        return task, message_id, budget_of(runtime.context, config, options.budget_key), memory

    def _opened(self, task: str, message_id: str | None, budget_usd: float | None,
                records: Sequence[AuctionRecord], runtime: Runtime[Any]) -> dict[str, Any]:
        auction, options = self.auction, self.auction.options
        budget = None if budget_usd is None else Budget(budget_usd, expected_execution_usd(
            auction.prices, records, default_tokens=options.expected_execution_tokens))
        auction_id = uuid.uuid4().hex
        emit(runtime, "auction_opened", auction_id=auction_id, task=task[:500], bidders=auction.names)
        skipped = skip_choice(records, auction.prices, auction.names, options.skip) if options.skip else None
        if skipped is not None and budget is not None and not budget.fits(skipped.winner, spent=0.0):
            skipped = None  # the recalled favourite does not fit the budget: hold the auction
        if skipped is not None:
            emit(runtime, "winner", auction_id=auction_id, winner=skipped.winner, reason=skipped.reason, score=None)
        return {
            "auction_task": task,
            "auction_id": auction_id,
            "auction_bids": Overwrite([]),
            "auction_jury": Overwrite([]),
            "auction_scores": {},
            "auction_provisional": skipped.winner if skipped else None,
            "auction_winner": skipped.winner if skipped else None,
            "auction_plan": "" if skipped else None,
            "auction_usage": {},
            "auction_cost_usd": {},
            "auction_execution": {},
            "auction_clock": {"opened": time.time()},
            "auction_outcome": {},
            "auction_run": {"task": task, "task_message_id": message_id,
                            **({"reason": skipped.reason, "skipped": True} if skipped else {})},
            "auction_refine": {},
            "auction_budget": budget.to_state() if budget is not None else {},
        }


def task_of(state: Mapping[str, Any]) -> tuple[str, str | None]:
    """The task of a new auction, and the id of the human message it came from (None: from `auction_task`).

    On a checkpointed thread `auction_task` persists from the previous auction. It is taken as this auction's task
    unless it is still the previous auction's task and a human message arrived since: then that message is the new
    task (a chat thread), while a newly set `auction_task` always wins.

    Raises:
        AuctionInputError: When there is no task, or it is not non-empty text.

    Examples:
        >>> task_of({"messages": [HumanMessage("Sort a list.", id="m1")]})
        ('Sort a list.', 'm1')
    """
    humans = [m for m in state.get("messages") or [] if isinstance(m, HumanMessage)]
    last_human = humans[-1] if humans else None
    previous = state.get("auction_outcome") or {}
    explicit = state.get("auction_task")
    fresh_message = last_human is not None and (
        not previous or last_human.id is None or last_human.id != previous.get("task_message_id")
    )
    stale_explicit = bool(previous) and explicit == previous.get("task") and fresh_message
    if explicit is not None and not stale_explicit:
        task: Any = explicit
        message_id = None
    elif last_human is not None:
        task, message_id = message_text(last_human), last_human.id
    else:
        raise AuctionInputError("auction_task", "no task: set auction_task or send a HumanMessage")
    if not isinstance(task, str):
        raise AuctionInputError("auction_task", f"must be text, got {type(task).__name__}")
    if not task.strip():
        raise AuctionInputError("auction_task", "must be non-empty text")
    return task, message_id
