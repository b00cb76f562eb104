"""What the phase nodes share: the auction's stream events, the usage ledger, and the bids read back from state."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.runtime import Runtime

from langgraph_sale.types import Bid, CallUsage, Evaluator, JuryScore

__all__ = ["EVENT", "emit", "usage_by_phase", "ledger", "bids_of", "jury_of", "latest_bids", "verdict", "averdict"]

EVENT = "auction_event"
"""The key of the auction's custom stream events (`stream_mode="custom"`): `{EVENT: "<event>", ...data}`."""


def emit(runtime: Runtime[Any], event: str, **data: Any) -> None:
    """Send one auction event to the run's custom stream."""
    runtime.stream_writer({EVENT: event, **data})


def bids_of(state: Mapping[str, Any]) -> list[Bid]:
    """Every bid of the auction in state, validated."""
    return [Bid.model_validate(record) for record in state.get("auction_bids", [])]


def jury_of(state: Mapping[str, Any]) -> list[JuryScore]:
    """Every jury judgment of the auction in state, validated."""
    return [JuryScore.model_validate(record) for record in state.get("auction_jury", [])]


def latest_bids(state: Mapping[str, Any]) -> dict[str, Bid]:
    """Each bidder's latest valid bid: its rewritten one after an outbid round, else its first."""
    latest: dict[str, Bid] = {}
    for bid in bids_of(state):
        if bid.ok and (bid.bidder not in latest or bid.round > latest[bid.bidder].round):
            latest[bid.bidder] = bid
    return latest


def usage_by_phase(bids: Sequence[Bid], jury: Sequence[JuryScore], execution: Mapping[str, Any] | None
                   ) -> dict[str, CallUsage]:
    """Tokens and dollars by phase: bids, jury, the outbid round (its bids and their judgments), execution."""
    phases: dict[str, CallUsage] = {}
    for bid in bids:
        phase = "refine" if bid.phase == "refine" else "bid"
        phases[phase] = phases.get(phase, CallUsage()) + bid.usage
    for judgment in jury:
        phase = "refine" if judgment.phase == "refine" else "jury"
        phases[phase] = phases.get(phase, CallUsage()) + judgment.usage
    # Every execution is paid for: the one whose answer stands and those a check rejected (`Escalate`).
    for run in [*(execution or {}).get("rejected", []), execution or {}]:
        if run.get("usage"):
            phases["execute"] = phases.get("execute", CallUsage()) + CallUsage.model_validate(run["usage"])
    return phases


def ledger(phases: Mapping[str, CallUsage]) -> dict[str, Any]:
    """The state update of the usage ledger: `auction_usage` by phase and `auction_cost_usd` with its total."""
    costs = {phase: usage.cost_usd for phase, usage in phases.items()}
    costs["total"] = sum(costs.values())
    return {"auction_usage": {phase: usage.to_state() for phase, usage in phases.items()}, "auction_cost_usd": costs}


async def averdict(evaluate: Evaluator, task: str, answer: str) -> bool | Exception:
    """What `evaluate(task, answer)` says (awaited if it is async), or the exception it raised: a hook's failure is
    recorded, never fatal."""
    try:
        said = evaluate(task, answer)
        return bool(await said) if inspect.isawaitable(said) else bool(said)
    except Exception as err:  # noqa: BLE001 - an evaluator failure is recorded, never fatal
        return err


def verdict(evaluate: Evaluator, task: str, answer: str) -> bool | Exception:
    """`averdict` from the sync path, in a fresh thread (this thread may run beside an event loop) that runs in a copy
    of this context, as LangGraph's own workers do: what the hook calls sees the run's context variables."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, averdict(evaluate, task, answer)).result()
