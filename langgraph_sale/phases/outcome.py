"""Phase 6, feedback: the outcome (winner, plan, every score term, tokens and dollars by phase, overhead shares,
the evaluator's verdict) into state and, with memory, into the store; with `route="parent"` the run ends by handing
the decision to the host's node for the winner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.runtime import Runtime
from langgraph.types import Command

from langgraph_sale.memory import AuctionRecord
from langgraph_sale.options import Auction
from langgraph_sale.phases.common import averdict, bids_of, emit, jury_of, ledger, usage_by_phase, verdict
from langgraph_sale.state import OUTPUT_KEYS, AuctionState
from langgraph_sale.types import AuctionOutcome, AuctionStatus, Bid, CallUsage, ScoreBreakdown

__all__ = ["RecordOutcome", "AUDIT"]

AUDIT = {"plan", "answer", "bids", "jury", "scores", "usage_by_phase"}
"""The outcome's fields its stream event leaves out: each went to the stream on its own when it happened."""


class RecordOutcome(RunnableCallable):
    """The `record_outcome` node.

    Examples:
        >>> from langgraph_sale.options import Auction, AuctionOptions
        >>> from langgraph_sale.testing import fake_pool
        >>> RecordOutcome(Auction(fake_pool(), AuctionOptions())).name
        'record_outcome'
    """

    def __init__(self, auction: Auction) -> None:
        super().__init__(self._record_outcome, self._arecord_outcome, name="record_outcome")
        self.auction = auction

    def _record_outcome(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]
                ) -> dict[str, Any] | Command[Any]:
        options = self.auction.options
        bids, phases, outcome = self._outcome(state)
        if options.evaluate is not None and outcome.answer is not None:
            outcome = _judged_by(outcome, verdict(options.evaluate, outcome.task, outcome.answer))
        if options.memory is not None and outcome.winner:
            try:
                options.memory.bind(runtime.store, runtime.context, config).write(self._memory_record(bids, outcome))
                outcome = outcome.model_copy(update={"memory_written": True})
            except Exception as err:  # noqa: BLE001 - a store failure is recorded; the outcome is not lost
                outcome = _memory_failed(outcome, err)
        return self._finish(state, outcome, phases, runtime)

    async def _arecord_outcome(self, state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]
                       ) -> dict[str, Any] | Command[Any]:
        options = self.auction.options
        bids, phases, outcome = self._outcome(state)
        if options.evaluate is not None and outcome.answer is not None:
            outcome = _judged_by(outcome, await averdict(options.evaluate, outcome.task, outcome.answer))
        if options.memory is not None and outcome.winner:
            try:
                await options.memory.bind(runtime.store, runtime.context, config).awrite(
                    self._memory_record(bids, outcome))
                outcome = outcome.model_copy(update={"memory_written": True})
            except Exception as err:  # noqa: BLE001 - as above
                outcome = _memory_failed(outcome, err)
        return self._finish(state, outcome, phases, runtime)

    def _memory_record(self, bids: Sequence[Bid], outcome: AuctionOutcome) -> AuctionRecord:
        return AuctionRecord.of_auction(self.auction.names, bids, outcome)

    def _outcome(self, state: AuctionState) -> tuple[list[Bid], dict[str, CallUsage], AuctionOutcome]:
        bids, jury = bids_of(state), jury_of(state)
        phases = usage_by_phase(bids, jury, state.get("auction_execution"))
        execution = state.get("auction_execution") or {}
        clock = state.get("auction_clock", {})
        auction_wall = max(0.0, clock.get("decided", 0.0) - clock.get("opened", 0.0))
        execute_wall = sum(float(run.get("wall_s") or 0.0) for run in [*execution.get("rejected", []), execution])
        total_tokens = sum(u.total_tokens for u in phases.values())
        total_cost = sum(u.cost_usd for u in phases.values())
        overhead = [u for phase, u in phases.items() if phase != "execute"]
        winner = state.get("auction_winner")
        outbid = winner is not None and winner != state.get("auction_provisional")
        notes = state.get("auction_run") or {}
        reason = notes.get("reason", "")
        outcome = AuctionOutcome(
            auction_id=state["auction_id"],
            task=notes.get("task") or state.get("auction_task") or "",
            task_message_id=notes.get("task_message_id"),
            status=self._status(notes, winner, execution),
            reason=reason,
            winner=winner,
            provisional_winner=state.get("auction_provisional"),
            plan=state.get("auction_plan") or "",
            fallback_used=bool(notes.get("fallback")),
            answer=execution.get("answer"),
            execution_error=execution.get("error"),
            executed_by=execution.get("bidder"),
            escalated_from=[run["bidder"] for run in execution.get("rejected", [])],
            checked=execution.get("checked"),
            check_error=execution.get("check_error"),
            delivery=execution.get("delivery"),
            tokens_by_phase={phase: u.total_tokens for phase, u in phases.items()},
            cost_usd_by_phase={phase: u.cost_usd for phase, u in phases.items()},
            total_tokens=total_tokens,
            total_cost_usd=total_cost,
            overhead_token_share=sum(u.total_tokens for u in overhead) / total_tokens if total_tokens else None,
            overhead_cost_share=sum(u.cost_usd for u in overhead) / total_cost if total_cost else None,
            overhead_time_share=auction_wall / (auction_wall + execute_wall) if auction_wall + execute_wall else None,
            auction_wall_s=auction_wall,
            execute_wall_s=execute_wall,
            bids_failed=[b.bidder for b in bids if not b.ok],
            usage_estimated=any(u.estimated for u in phases.values()),
            refine_rounds=max((b.round for b in bids), default=0),
            recalled=int((state.get("auction_refine") or {}).get("recalled_total", 0)),
            outbid=outbid,
            outbid_by=winner if outbid else None,
            skipped=bool(notes.get("skipped")),
            budget_usd=(state.get("auction_budget") or {}).get("budget_usd"),
            approved_by=notes.get("approved_by"),
            bids=bids,
            jury=jury,
            scores={name: ScoreBreakdown.model_validate(breakdown)
                    for name, breakdown in (state.get("auction_scores") or {}).items()},
            usage_by_phase=phases,
        )
        return bids, phases, outcome

    def _status(self, notes: Mapping[str, Any], winner: str | None, execution: Mapping[str, Any]) -> AuctionStatus:
        """How the auction ended: as decided before execution (over_budget, rejected), or by who ran and how."""
        if notes.get("status") in ("over_budget", "rejected"):
            status: AuctionStatus = notes["status"]
            return status
        if self.auction.options.route != "internal":
            return "decided" if winner else "no_bids"
        if not winner:
            return "no_bids"
        return "execution_failed" if execution.get("error") else "executed"

    def _finish(self, state: AuctionState, outcome: AuctionOutcome, phases: Mapping[str, CallUsage],
                runtime: Runtime[Any]) -> dict[str, Any] | Command[Any]:
        # The event carries the decision and its cost; the plan, the answer and the audit went out as they happened.
        emit(runtime, "outcome", **outcome.model_dump(mode="json", exclude=AUDIT))
        update = {**ledger(phases), "auction_outcome": outcome.to_state()}
        options = self.auction.options
        if options.route == "parent" and outcome.winner:
            destinations = options.parent_destinations or {}
            decision = {key: state.get(key) for key in OUTPUT_KEYS if key in state and key != "messages"}
            return Command(graph=Command.PARENT, goto=destinations.get(outcome.winner, outcome.winner),
                           update={**decision, **update})
        return update


def _memory_failed(outcome: AuctionOutcome, error: Exception) -> AuctionOutcome:
    return outcome.model_copy(update={"memory_error": f"{type(error).__name__}: {error}"[:500]})


def _judged_by(outcome: AuctionOutcome, verdict: bool | Exception) -> AuctionOutcome:
    if isinstance(verdict, Exception):
        return outcome.model_copy(update={"evaluation_error": f"{type(verdict).__name__}: {verdict}"[:500]})
    return outcome.model_copy(update={"success": verdict})
