"""`create_auction`: the SALE auction as an uncompiled LangGraph `StateGraph`, read top to bottom as its phases.

```
START -> open_auction -(Send x |A|)-> bid -> collect_bids -(Send x jurors x bids)-> judge -> score
score -> recall -(Send x cheaper bidders)-> bid (phase refine) -> collect_bids -> judge -> score   (outbid round)
score -> approve (interrupt: a person accepts, overrides or rejects) -> ...                       (approve=True)
score -> execute_<winner> -> record_outcome -> END          (route="internal")
score -> record_outcome -> END                              (route="decide": the host routes with route_to_winner)
score -> record_outcome -> Command.PARENT goto <winner>     (route="parent")
```

`collect_bids` sits between the two fan-outs: a conditional edge hung on a `Send` target would fire once per branch
(langgraph-notes §0). Bid and judge nodes have sync and async bodies, bound their own time (LangGraph's node
timeouts refuse sync execution), retry through a `RetryPolicy`, and end in an error handler that returns a
`Command(goto=...)`: a plain dict from a handler silently ends the run when every branch fails (langgraph-notes §0.4).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import inspect
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable  # sync + async node bodies, as langgraph's ToolNode
from langgraph.errors import NodeError
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Overwrite, RetryPolicy, Send, interrupt

from langgraph_sale.bidder import Bidder, validate_pool
from langgraph_sale.bidding import amake_bid, failed_bid, make_bid
from langgraph_sale.budget import DEFAULT_EXPECTED_EXECUTION_TOKENS, Budget, budget_of, expected_execution_usd
from langgraph_sale.calls import ainvoke_bounded, invoke_bounded
from langgraph_sale.errors import AuctionConfigError, AuctionInputError
from langgraph_sale.executor import DEFAULT_MAX_STEPS, default_executor, execution_input, read_execution
from langgraph_sale.guard import PlanScreening
from langgraph_sale.jury import JuryScoring, ajudge, judge, structured_juror
from langgraph_sale.memory import AuctionMemory, AuctionRecord, MemoryBid
from langgraph_sale.metrics import message_text
from langgraph_sale.scoring import CostValueScorer
from langgraph_sale.skipping import SkipAuction, skip_choice
from langgraph_sale.state import AUCTION_KEYS, AuctionState, BidRequest, JudgeRequest
from langgraph_sale.types import AuctionOutcome, Bid, CallUsage, JuryScore, ScoreBreakdown

__all__ = ["create_auction", "route_to_winner", "Route", "Evaluator", "DEFAULT_MAX_BID_TOKENS"]

Route = Literal["internal", "decide", "parent"]
Evaluator = Callable[[str, str], bool | Awaitable[bool]]

DEFAULT_MAX_BID_TOKENS = 256
"""Bid cap: plans are "a few hundred tokens" in the paper; local models ignore word budgets and run to the cap."""
DEFAULT_BID_TIMEOUT = 120.0
DEFAULT_EXECUTE_TIMEOUT = 1800.0
DEFAULT_BID_RETRY = RetryPolicy(max_attempts=2, initial_interval=0.5, backoff_factor=2.0, jitter=True)

_EVENT = "auction_event"


def route_to_winner(state: Mapping[str, Any]) -> str:
    """For a host graph's conditional edge after a `route="decide"` auction: the winner's name, or `END`.

    Example:
        >>> route_to_winner({"auction_winner": "small"}), route_to_winner({"auction_winner": None})
        ('small', '__end__')
    """
    winner = state.get("auction_winner")
    return winner if winner else END


def _emit(runtime: Runtime[Any], event: str, **data: Any) -> None:
    runtime.stream_writer({_EVENT: event, **data})


def _usage_by_phase(bids: Sequence[Bid], jury: Sequence[JuryScore], execution: Mapping[str, Any] | None
                    ) -> dict[str, CallUsage]:
    phases: dict[str, CallUsage] = {}
    for bid in bids:
        phase = "refine" if bid.phase == "refine" else "bid"
        phases[phase] = phases.get(phase, CallUsage()) + bid.usage
    for judgment in jury:
        phase = "refine" if judgment.phase == "refine" else "jury"
        phases[phase] = phases.get(phase, CallUsage()) + judgment.usage
    if execution and execution.get("usage"):
        phases["execute"] = CallUsage.model_validate(execution["usage"])
    return phases


def _ledger(phases: Mapping[str, CallUsage]) -> dict[str, Any]:
    costs = {phase: usage.cost_usd for phase, usage in phases.items()}
    costs["total"] = sum(costs.values())
    return {"auction_usage": {phase: usage.to_state() for phase, usage in phases.items()}, "auction_cost_usd": costs}


def create_auction(
    bidders: Sequence[Bidder],
    *,
    scorer: CostValueScorer | None = None,
    jury: bool | int = True,
    jury_scoring: JuryScoring = "integer",
    memory: AuctionMemory | None = None,
    refine: bool | int = True,
    skip: SkipAuction | None = None,
    max_bid_tokens: int = DEFAULT_MAX_BID_TOKENS,
    screen_plans: PlanScreening = "strip",
    bid_timeout: float | None = DEFAULT_BID_TIMEOUT,
    bid_retry: RetryPolicy | None = DEFAULT_BID_RETRY,
    execute_timeout: float | None = DEFAULT_EXECUTE_TIMEOUT,
    route: Route = "internal",
    parent_destinations: Mapping[str, str] | None = None,
    fallback: str | bool | None = None,
    plan_guidance: bool = True,
    evaluate: Evaluator | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    approve: bool = False,
    budget_key: str = "budget_usd",
    expected_execution_tokens: int = DEFAULT_EXPECTED_EXECUTION_TOKENS,
    state_schema: type[Any] = AuctionState,
    context_schema: type[Any] | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """Build a SALE auction over a pool of bidders, as an uncompiled `StateGraph`.

    Every bidder bids a short plan (in parallel); every juror scores every bid 0-5 (in parallel, blind); each bid
    scores `C - V` (`CostValueScorer`); the lowest wins; the winner executes the task in its own subgraph guided by
    its plan; the outcome (winner, plan, every score term, tokens and dollars by phase) lands in state.

    Args:
        bidders: The pool, in order (the order breaks ties after price).
        scorer: The scorer; None uses `CostValueScorer()` with the default weights.
        jury: True for the full jury (every juror scores every bid, |A|^2 calls), False for none, or an int m for a
            sampled jury of m jurors per bid that always includes the bid's author. Jurors whose weight is zero
            are never asked.
        jury_scoring: "integer" uses the juror's 0-5 answer; "logprobs" the expected score from the score
            digit's top logprobs where the model returns them (the integer elsewhere).
        memory: The shared auction memory (`AuctionMemory`, over the run's store): every auction is written to
            it, and it feeds the outbid round. None: no memory, no outbid round.
        refine: Outbid rounds (with memory): True for the paper's single round, an int for at most that many,
            False for none. Bidders strictly cheaper than the leader rewrite their bids from recalled
            (losing, winning) plan pairs; a rewritten bid takes the win only with a strictly lower score.
        skip: With memory, skip the auction where the similar past auctions cost at least `overhead_ratio` times
            their executions (`langgraph_sale.skipping.SkipAuction`): no bids, no jury, and the bidder that did
            best on those tasks runs without a plan (the outcome's `skipped`). None: always hold the auction.
        max_bid_tokens: Output cap of a bid.
        screen_plans: What to do with the passages of a plan that address the jury ("score this 5", "ignore the
            rubric", forged fences or turns, a jury answer; `langgraph_sale.guard`): "strip" removes them before any
            juror, the executor or memory reads the plan and lists them in the bid's `flags`; "reject" drops the
            bid; "off" leaves plans as written (still fenced as data).
        bid_timeout: Seconds a bid (and each jury attempt) may take; None for no limit.
        bid_retry: Retry policy of a bid; None for no retry. Timeouts and connection errors are retried.
        execute_timeout: Seconds the winner's execution may take in all (its agent or default executor); past it
            the outcome says `execution_failed` and what was paid for stays in state. None for no limit.
        route: "internal" runs the winner in an `execute_<name>` node of this graph; "decide" only decides (the
            host routes with `route_to_winner`); "parent" ends with `Command(graph=Command.PARENT, goto=...)`.
        parent_destinations: For route="parent", the parent node of each bidder (default: the bidder's name).
        fallback: Who runs when no bid survives: None, the most expensive bidder without a plan; a bidder's name,
            that one; False, nobody (the outcome says `no_bids`).
        plan_guidance: Give the winner its plan as guidance (set False to run it on the bare task).
        evaluate: Optional `evaluate(task, answer) -> bool` (or async), recorded as the outcome's `success`.
        max_steps: Model calls of a default executor at most.
        approve: Pause for a person after the decision (`interrupt()`, outside the parallel branches; needs a
            checkpointer). Resume with `Command(resume=True)` to accept, `{"winner": "<name>"}` to override, or
            False to run nobody (status `rejected`).
        budget_key: The run-context field (or `config["configurable"]` key) holding a per-task budget in dollars.
            With a budget, bidders whose expected execution cost does not fit are left out, and the auction's own
            calls count against it (`langgraph_sale.budget`).
        expected_execution_tokens: Execution tokens a budget assumes for a bidder when memory has no similar
            auction.
        state_schema: The graph's state; must declare every key of `AuctionState`.
        context_schema: The run context schema, passed to `StateGraph`.

    Returns:
        The uncompiled graph: `create_auction(...).compile(checkpointer=..., store=...)`.

    Raises:
        AuctionConfigError: On an invalid pool or option, naming the field.

    Example:
        >>> from langgraph_sale import create_auction
        >>> from langgraph_sale.testing import fake_pool
        >>> app = create_auction(fake_pool()).compile(name="auction")
        >>> result = app.invoke({"auction_task": "Deduplicate and sort a list of integers."})
        >>> result["auction_winner"], result["messages"][-1].name
        ('small', 'small')
    """
    pool = validate_pool(bidders)
    names = list(pool)
    prices = {name: pool[name].price_per_mtok for name in names}
    scorer = _check_options(
        pool,
        scorer=scorer,
        jury=jury,
        jury_scoring=jury_scoring,
        memory=memory,
        refine=refine,
        max_bid_tokens=max_bid_tokens,
        bid_timeout=bid_timeout,
        execute_timeout=execute_timeout,
        route=route,
        parent_destinations=parent_destinations,
        fallback=fallback,
        evaluate=evaluate,
        max_steps=max_steps,
        state_schema=state_schema,
    )
    if screen_plans not in ("strip", "reject", "off"):
        raise AuctionConfigError("screen_plans", f"must be 'strip', 'reject' or 'off', got {screen_plans!r}")
    if skip is not None and (not isinstance(skip, SkipAuction) or memory is None):
        raise AuctionConfigError("skip", "needs memory= and a SkipAuction" if isinstance(skip, SkipAuction)
                                 else f"must be a SkipAuction or None, got {skip!r}")
    if skip is not None and memory is not None and skip.min_recalled > memory.k:
        # The rule reads the k auctions memory recalls: it could never see min_recalled of them.
        raise AuctionConfigError("skip", f"min_recalled={skip.min_recalled} is more than the {memory.k} auctions "
                                 "memory recalls (AuctionMemory(k=...)): no auction would ever be skipped")
    if not isinstance(approve, bool):
        raise AuctionConfigError("approve", f"must be True or False, got {approve!r}")
    if not isinstance(budget_key, str) or not budget_key:
        raise AuctionConfigError("budget_key", f"must be a context field name, got {budget_key!r}")
    if isinstance(expected_execution_tokens, bool) or not isinstance(expected_execution_tokens, int) \
            or expected_execution_tokens < 0:
        raise AuctionConfigError("expected_execution_tokens",
                                 f"must be an int >= 0, got {expected_execution_tokens!r}")
    refine_rounds = 0 if memory is None or refine is False else 1 if refine is True else int(refine)
    active_jurors = scorer.active_jurors(names) if jury is not False else []
    structured = {name: structured_juror(pool[name].model) for name in active_jurors}

    # ---- Phase 0: open the auction ---------------------------------------------------------------------------
    def open_auction(state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        task, message_id, budget_usd = _opening(state, config, runtime)
        records: list[AuctionRecord] = []
        if memory is not None and _recalls_at_opening(budget_usd):
            records = memory.recall(memory.store_for(runtime.store), memory.namespace_for(runtime.context, config),
                                    task)
        return _opened(task, message_id, budget_usd, records, runtime)

    async def aopen_auction(state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        task, message_id, budget_usd = _opening(state, config, runtime)
        records: list[AuctionRecord] = []
        if memory is not None and _recalls_at_opening(budget_usd):
            records = await memory.arecall(memory.store_for(runtime.store),
                                           memory.namespace_for(runtime.context, config), task)
        return _opened(task, message_id, budget_usd, records, runtime)

    def _recalls_at_opening(budget_usd: float | None) -> bool:
        # Similar past auctions tell a budget what executions cost, and a skip rule whether to hold the auction.
        return budget_usd is not None or skip is not None

    def _opening(state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]
                 ) -> tuple[str, str | None, float | None]:
        task, message_id = _task_of(state)
        if memory is not None:
            # A missing store or scope fails here, before anything is paid for.
            memory.store_for(runtime.store)
            memory.namespace_for(runtime.context, config)
        return task, message_id, budget_of(runtime.context, config, budget_key)

    def _opened(task: str, message_id: str | None, budget_usd: float | None, records: Sequence[AuctionRecord],
                runtime: Runtime[Any]) -> dict[str, Any]:
        budget = None if budget_usd is None else Budget(budget_usd, expected_execution_usd(
            prices, records, default_tokens=expected_execution_tokens))
        auction_id = uuid.uuid4().hex
        _emit(runtime, "auction_opened", auction_id=auction_id, task=task[:500], bidders=names)
        skipped = skip_choice(records, prices, names, skip) if skip is not None else None
        if skipped is not None and budget is not None and not budget.fits(skipped.winner, spent=0.0):
            skipped = None  # the recalled favourite does not fit the budget: hold the auction
        if skipped is not None:
            _emit(runtime, "winner", auction_id=auction_id, winner=skipped.winner, reason=skipped.reason, score=None)
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
            "auction_outcome": {"task": task, "task_message_id": message_id,
                                **({"reason": skipped.reason} if skipped else {})},
            "auction_refine": {},
            "auction_budget": budget.to_state() if budget is not None else {},
        }

    def send_bids(state: AuctionState) -> list[Send] | str:
        if state.get("auction_winner"):
            return _decided(state)  # skipped: memory says this auction cannot pay for itself
        budget = Budget.from_state(state.get("auction_budget"))
        # A bidder whose execution alone would exceed the budget is not asked: its bid could never win.
        sends = [
            Send("bid", BidRequest(auction_id=state["auction_id"], bidder=name, task=state["auction_task"] or "",
                                   phase="bid", round=0, current_plan="", contrast=[]))
            for name in names
            if budget is None or budget.fits(name, spent=0.0)
        ]
        return sends or "score"

    # ---- Phase 1: sealed bids, one Send per bidder -------------------------------------------------------------
    def _bid_done(bid: Bid, runtime: Runtime[Any]) -> dict[str, Any]:
        if bid.ok:
            _emit(runtime, "bid_submitted", auction_id=bid.auction_id, bidder=bid.bidder, plan_tokens=bid.plan_tokens,
                  entropy=bid.entropy, latency_s=bid.latency_s, plan=bid.plan[:300], flags=bid.flags)
        else:
            _emit(runtime, "bid_failed", auction_id=bid.auction_id, bidder=bid.bidder, error=bid.error)
        return {"auction_bids": [bid.to_state()]}

    def bid_sync(request: BidRequest, runtime: Runtime[Any]) -> dict[str, Any]:
        bidder = pool[request["bidder"]]
        return _bid_done(make_bid(dict(request), bidder, max_tokens=max_bid_tokens, timeout=bid_timeout,
                                  screening=screen_plans), runtime)

    async def bid_async(request: BidRequest, runtime: Runtime[Any]) -> dict[str, Any]:
        bidder = pool[request["bidder"]]
        bid = await amake_bid(dict(request), bidder, max_tokens=max_bid_tokens, timeout=bid_timeout,
                              screening=screen_plans)
        return _bid_done(bid, runtime)

    def bid_failed(request: BidRequest, error: NodeError, runtime: Runtime[Any]) -> Command[Any]:
        # Retries are spent: record the failure and carry on with the other bids.
        attempts = _attempts_made(bid_retry, error.error)
        bid = failed_bid(dict(request), error.error, attempts=attempts)
        return Command(goto="collect_bids", update=_bid_done(bid, runtime))

    def collect_bids(state: AuctionState) -> dict[str, Any]:
        bids = [Bid.model_validate(record) for record in state.get("auction_bids", [])]
        return {**_ledger(_usage_by_phase(bids, [], None)),
                "auction_clock": {**state.get("auction_clock", {}), "bids_done": time.time()}}

    # ---- Phase 2: the jury, one Send per (juror, bid) --------------------------------------------------------------
    def send_judgments(state: AuctionState) -> list[Send] | str:
        # The bids of the round just collected: the first bids, or the rewritten ones of an outbid round.
        records = state.get("auction_bids", [])
        latest = max((b.get("round", 0) for b in records), default=0)
        bids = [Bid.model_validate(b) for b in records if b.get("round", 0) == latest]
        sends = [
            Send("judge", JudgeRequest(auction_id=state["auction_id"], juror=juror, task=state["auction_task"] or "",
                                       bid=bid.to_state()))
            for bid in bids
            if bid.ok
            for juror in _panel(bid, state["auction_task"] or "")
        ]
        return sends or "score"

    def _panel(bid: Bid, task: str) -> list[str]:
        if jury is True or isinstance(jury, bool):
            return list(active_jurors)
        # A sampled jury of m always keeps the author: self-assessment is part of the design.
        others = [name for name in active_jurors if name != bid.bidder]
        seed = hashlib.sha256(f"{task}\x00{bid.bidder}".encode()).hexdigest()
        author = [bid.bidder] if bid.bidder in active_jurors else []
        chosen = random.Random(seed).sample(others, min(len(others), jury - len(author)))
        return [name for name in active_jurors if name in author or name in chosen]

    def _judged(record: JuryScore, runtime: Runtime[Any]) -> dict[str, Any]:
        _emit(runtime, "jury_scored", auction_id=record.auction_id, juror=record.juror, bidder=record.bidder,
              score=record.score, error=record.error)
        return {"auction_jury": [record.to_state()]}

    def judge_sync(request: JudgeRequest, runtime: Runtime[Any]) -> dict[str, Any]:
        bid = Bid.model_validate(request["bid"])
        record = judge(pool[request["juror"]], bid, request["task"], structured=structured[request["juror"]],
                       scoring=jury_scoring, timeout=bid_timeout)
        return _judged(record, runtime)

    async def judge_async(request: JudgeRequest, runtime: Runtime[Any]) -> dict[str, Any]:
        bid = Bid.model_validate(request["bid"])
        record = await ajudge(pool[request["juror"]], bid, request["task"], structured=structured[request["juror"]],
                              scoring=jury_scoring, timeout=bid_timeout)
        return _judged(record, runtime)

    def judge_failed(request: JudgeRequest, error: NodeError, runtime: Runtime[Any]) -> Command[Any]:
        bid = request["bid"]
        record = JuryScore(auction_id=request["auction_id"], juror=request["juror"], bidder=bid["bidder"],
                           bid_id=bid["id"], phase=bid.get("phase", "bid"), round=bid.get("round", 0),
                           error=f"{type(error.error).__name__}: {error.error}"[:500])
        return Command(goto="score", update=_judged(record, runtime))

    # ---- Phase 3: cost - value; the lowest score wins --------------------------------------------------------------
    def score(state: AuctionState, runtime: Runtime[Any]) -> dict[str, Any]:
        bids = [Bid.model_validate(b) for b in state.get("auction_bids", [])]
        jury_records = [JuryScore.model_validate(j) for j in state.get("auction_jury", [])]
        latest = max((b.round for b in bids), default=0)
        phases = _usage_by_phase(bids, jury_records, None)
        spent = sum(usage.cost_usd for usage in phases.values())
        decision = _rescore(state, bids, jury_records, latest, spent, runtime) if latest else _first_score(
            state, bids, jury_records, spent, runtime)
        return {
            **decision,
            **_ledger(phases),
            "auction_clock": {**state.get("auction_clock", {}), "decided": time.time()},
        }

    def _scored(table: Mapping[str, ScoreBreakdown], bids: Sequence[Bid], runtime: Runtime[Any]) -> dict[str, Any]:
        # Every bid keeps its own breakdown in `auction_bids`; `auction_scores` holds each bidder's latest.
        by_id = {breakdown.bid_id: breakdown for breakdown in table.values()}
        for name, breakdown in table.items():
            _emit(runtime, "bid_scored", auction_id=bids[0].auction_id, bidder=name, phase=breakdown.phase,
                  round=breakdown.round, score=breakdown.score, C=breakdown.C, V=breakdown.V, H=breakdown.H,
                  J=breakdown.J)
        return {"auction_bids": [bid.model_copy(update={"breakdown": by_id[bid.id]}).to_state()
                                 for bid in bids if bid.id in by_id]}

    def _affordable(state: AuctionState, table: Mapping[str, ScoreBreakdown], spent: float
                    ) -> dict[str, ScoreBreakdown]:
        # With a budget, only bidders whose expected execution fits what the auction has left may win.
        budget = Budget.from_state(state.get("auction_budget"))
        return {name: breakdown for name, breakdown in table.items()
                if budget is None or budget.fits(name, spent=spent)}

    def _first_score(state: AuctionState, bids: Sequence[Bid], jury_records: Sequence[JuryScore], spent: float,
                     runtime: Runtime[Any]) -> dict[str, Any]:
        table = scorer.score(bids, jury_records, prices=prices, max_bid_tokens=max_bid_tokens)
        winner = scorer.winner(_affordable(state, table, spent), prices=prices, order=names)
        plan, reason = "", "lowest score (cost - value)"
        if winner is None:
            winner, reason = _fallback_choice(bids)
            budget = Budget.from_state(state.get("auction_budget"))
            if budget is not None and (winner is None or not budget.fits(winner, spent=spent)):
                left = budget.budget_usd - spent
                winner, reason = None, (f"over_budget: ${left:.8f} of ${budget.budget_usd:.8f} left after the "
                                        "auction's own calls; no bidder's expected execution fits")
        else:
            plan = next(b.plan for b in bids if b.id == table[winner].bid_id)
        update = _scored(table, bids, runtime) if table else {}
        _emit(runtime, "winner", auction_id=state["auction_id"], winner=winner, reason=reason,
              score=table[winner].score if winner in table else None)
        return {
            **update,
            "auction_scores": {name: breakdown.to_state() for name, breakdown in table.items()},
            "auction_provisional": winner,
            "auction_winner": winner,
            "auction_plan": plan or "",
            "auction_outcome": {**(state.get("auction_outcome") or {}), "reason": reason},
        }

    def _rescore(state: AuctionState, bids: Sequence[Bid], jury_records: Sequence[JuryScore], latest: int,
                 spent: float, runtime: Runtime[Any]) -> dict[str, Any]:
        # The rewritten bids are scored on every term, jury included, against the leader's bid under the same
        # scaling (entropy is used only if every bid of the auction has it); only a strictly lower score wins.
        leader = state["auction_winner"] or ""
        leader_bid_id = state["auction_scores"][leader]["bid_id"]
        leader_bid = next(b for b in bids if b.id == leader_bid_id)
        rewritten = [b for b in bids if b.round == latest and b.ok]
        table = scorer.score([leader_bid, *rewritten], jury_records, prices=prices, max_bid_tokens=max_bid_tokens,
                             entropy_bids=[b for b in bids if b.ok])
        challengers = {name: breakdown for name, breakdown in _affordable(state, table, spent).items()
                       if name != leader}
        best = scorer.winner(challengers, prices=prices, order=names)
        outcome = dict(state.get("auction_outcome") or {})
        update: dict[str, Any] = {}
        if best is not None and challengers[best].score < table[leader].score:
            outcome["reason"] = (f"outbid: {best}'s rewritten bid scored {challengers[best].score:.4f}, below "
                                 f"{leader}'s {table[leader].score:.4f}")
            update = {"auction_winner": best, "auction_plan": next(b.plan for b in rewritten if b.bidder == best)}
            _emit(runtime, "winner", auction_id=state["auction_id"], winner=best, reason=outcome["reason"],
                  score=challengers[best].score)
        refine_state = {**state.get("auction_refine", {}), "outbid": bool(update)}
        return {
            **_scored(table, [leader_bid, *rewritten], runtime),
            **update,
            "auction_scores": {**state.get("auction_scores", {}),
                               **{name: breakdown.to_state() for name, breakdown in table.items()}},
            "auction_outcome": outcome,
            "auction_refine": refine_state,
        }

    def _fallback_choice(bids: Sequence[Bid]) -> tuple[str | None, str]:
        failed = ", ".join(f"{b.bidder} ({b.error})" for b in bids if not b.ok) or "none"
        if fallback is False:
            return None, f"no_bids: no valid bid ({failed}); fallback disabled"
        if isinstance(fallback, str):
            return fallback, f"fallback: no valid bid ({failed}); configured fallback {fallback} runs without a plan"
        largest = max(names, key=lambda name: (prices[name], names.index(name)))
        return largest, f"fallback: no valid bid ({failed}); the most expensive bidder {largest} runs without a plan"

    def after_score(state: AuctionState) -> str:
        if _outbid_due(state):
            return "recall"
        return _decided(state)

    def _decided(state: AuctionState) -> str:
        return "approve" if approve and state.get("auction_winner") else _after_decision(state)

    def _after_decision(state: AuctionState) -> str:
        winner = state.get("auction_winner")
        if route == "internal" and winner:
            return f"execute_{winner}"
        return "record_outcome"

    # ---- Phase 4: the outbid round: cheaper bidders rewrite their bids from recalled auctions -------------------
    def _leader_and_challengers(state: AuctionState) -> tuple[str | None, dict[str, Bid]]:
        leader = state.get("auction_winner")
        if not leader or leader not in state.get("auction_scores", {}):
            return None, {}  # no scored leader (a fallback or no bids): nothing to outbid
        return leader, {name: bid for name, bid in _latest_bids(state).items() if prices[name] < prices[leader]}

    def _outbid_due(state: AuctionState) -> bool:
        if refine_rounds == 0:
            return False
        refine_state = state.get("auction_refine") or {}
        done = int(refine_state.get("round", 0))
        if done >= refine_rounds or (done and not refine_state.get("outbid")):
            return False  # rounds spent, or the last round changed nothing
        return bool(_leader_and_challengers(state)[1])

    def _refine_requests(state: AuctionState, records: Sequence[AuctionRecord]) -> dict[str, Any]:
        refine_state = state.get("auction_refine") or {}
        number = int(refine_state.get("round", 0)) + 1
        _, challengers = _leader_and_challengers(state)
        requests: dict[str, Any] = {}
        for name, bid in challengers.items():
            pairs = [pair for record in records if (pair := record.pair_for(name)) is not None]
            if pairs:  # a bidder absent from every recalled auction has nothing to learn from
                requests[name] = {"current_plan": bid.plan, "contrast": [p.model_dump() for p in pairs]}
        return {"auction_refine": {"round": number, "recalled": len(records), "requests": requests,
                                   "recalled_total": int(refine_state.get("recalled_total", 0)) + len(records)}}

    def _recalled(state: AuctionState, records: Sequence[AuctionRecord], runtime: Runtime[Any]) -> dict[str, Any]:
        update = _refine_requests(state, records)
        refine_state = update["auction_refine"]
        _emit(runtime, "outbid_round", auction_id=state["auction_id"], round=refine_state["round"],
              recalled=len(records), bidders=sorted(refine_state["requests"]))
        return update

    def recall_sync(state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        assert memory is not None  # the recall node exists only with memory
        store = memory.store_for(runtime.store)
        namespace = memory.namespace_for(runtime.context, config)
        return _recalled(state, memory.recall(store, namespace, state["auction_task"] or ""), runtime)

    async def recall_async(state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
        assert memory is not None
        store = memory.store_for(runtime.store)
        namespace = memory.namespace_for(runtime.context, config)
        return _recalled(state, await memory.arecall(store, namespace, state["auction_task"] or ""), runtime)

    def send_refines(state: AuctionState) -> list[Send] | str:
        refine_state = state.get("auction_refine") or {}
        sends = [
            Send("bid", BidRequest(auction_id=state["auction_id"], bidder=name, task=state["auction_task"] or "",
                                   phase="refine", round=refine_state["round"], current_plan=request["current_plan"],
                                   contrast=request["contrast"]))
            for name, request in (refine_state.get("requests") or {}).items()
        ]
        # Empty memory, or no challenger in any recalled auction: the round is skipped.
        return sends or _decided(state)

    # ---- Optional: a person approves or overrides the winner (outside the parallel branches) ------------------
    def approve_winner(state: AuctionState) -> dict[str, Any]:
        winner = state.get("auction_winner")
        scores = state.get("auction_scores") or {}
        answer = interrupt({
            "auction_id": state["auction_id"],
            "task": state.get("auction_task"),
            "winner": winner,
            "plan": state.get("auction_plan"),
            "reason": (state.get("auction_outcome") or {}).get("reason"),
            "scores": {name: breakdown.get("score") for name, breakdown in scores.items()},
            "choices": names,
            "resume_with": 'True to accept, {"winner": "<name>"} to override, False to run nobody',
        })
        outcome = {**(state.get("auction_outcome") or {}), "approved_by": "person"}
        chosen = answer.get("winner", winner) if isinstance(answer, Mapping) else winner
        if answer is False or (isinstance(answer, str) and answer.lower() in ("reject", "no")) or (
                isinstance(answer, Mapping) and answer.get("winner", winner) is None):
            outcome["reason"] = f"rejected: a person declined {winner}"
            return {"auction_winner": None, "auction_plan": "", "auction_outcome": outcome}
        if not (answer is True or answer is None or isinstance(answer, Mapping)
                or (isinstance(answer, str) and answer.lower() in ("accept", "yes"))):
            raise AuctionInputError("resume", f"must be True, False or {{'winner': <name>}}, got {answer!r}")
        if chosen not in names:
            raise AuctionInputError("resume.winner", f"must be one of {names}, got {chosen!r}")
        if chosen == winner:
            return {"auction_outcome": outcome}
        outcome["reason"] = f"override: a person chose {chosen} over {winner}"
        return {"auction_winner": chosen, "auction_plan": _latest_plan(state, chosen), "auction_outcome": outcome}

    def _latest_plan(state: AuctionState, name: str) -> str:
        latest = _latest_bids(state).get(name)
        return latest.plan if latest is not None else ""

    # ---- Phase 5: the winner executes, guided by its plan -------------------------------------------------------
    def make_execute(bidder: Bidder) -> tuple[Callable[..., Any], Callable[..., Any]]:
        agent = bidder.agent if bidder.agent is not None else default_executor(bidder, max_steps=max_steps)

        def executed(result: dict[str, Any], runtime: Runtime[Any], state: AuctionState) -> dict[str, Any]:
            _emit(runtime, "executed", auction_id=state["auction_id"], bidder=bidder.name,
                  answer=result["answer"][:500], cost_usd=result["usage"]["cost_usd"])
            return {"messages": [AIMessage(content=result["answer"], name=bidder.name)], "auction_execution": result}

        # The execution is bounded like a bid (a model that hangs must not hang the auction); its own model calls
        # take their limiter slots inside the executor.
        def execute_sync(state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
            sent = execution_input(state["auction_task"] or "", state.get("auction_plan") or "", guided=plan_guidance)
            started = time.perf_counter()
            result, _ = invoke_bounded(agent, sent, timeout=execute_timeout, who=bidder.name, config=config)
            return executed(read_execution(sent, result, bidder, started), runtime, state)

        async def execute_async(state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
            sent = execution_input(state["auction_task"] or "", state.get("auction_plan") or "", guided=plan_guidance)
            started = time.perf_counter()
            result, _ = await ainvoke_bounded(agent, sent, timeout=execute_timeout, who=bidder.name, config=config)
            return executed(read_execution(sent, result, bidder, started), runtime, state)

        return execute_sync, execute_async

    def execution_failed(state: AuctionState, error: NodeError, runtime: Runtime[Any]) -> Command[Any]:
        # The bids and scores are already in state; the outcome records the failure instead of losing them.
        message = f"{type(error.error).__name__}: {error.error}"[:2000]
        _emit(runtime, "execution_failed", auction_id=state.get("auction_id"), error=message)
        return Command(goto="record_outcome", update={"auction_execution": {
            "bidder": state.get("auction_winner"), "answer": None, "usage": CallUsage().to_state(), "wall_s": 0.0,
            "error": message}})

    # ---- Phase 6: feedback into state -------------------------------------------------------------------------------
    def _records(state: AuctionState) -> tuple[list[Bid], dict[str, CallUsage]]:
        # Validated once per run's end and shared by `_outcome` and `_finish`, which both need the phase usage.
        bids = [Bid.model_validate(b) for b in state.get("auction_bids", [])]
        jury_records = [JuryScore.model_validate(j) for j in state.get("auction_jury", [])]
        return bids, _usage_by_phase(bids, jury_records, state.get("auction_execution"))

    def _outcome(state: AuctionState, bids: Sequence[Bid], phases: Mapping[str, CallUsage]) -> AuctionOutcome:
        execution = state.get("auction_execution") or {}
        clock = state.get("auction_clock", {})
        auction_wall = max(0.0, clock.get("decided", 0.0) - clock.get("opened", 0.0))
        execute_wall = float(execution.get("wall_s") or 0.0)
        total_tokens = sum(u.total_tokens for u in phases.values())
        total_cost = sum(u.cost_usd for u in phases.values())
        overhead = [u for phase, u in phases.items() if phase != "execute"]
        winner = state.get("auction_winner")
        outbid = winner is not None and winner != state.get("auction_provisional")
        opened = state.get("auction_outcome") or {}
        reason = opened.get("reason", "")
        status: Literal["executed", "decided", "no_bids", "execution_failed", "over_budget", "rejected"]
        if reason.startswith("over_budget"):
            status = "over_budget"
        elif reason.startswith("rejected"):
            status = "rejected"
        elif route != "internal":
            status = "decided" if winner else "no_bids"
        elif not winner:
            status = "no_bids"
        elif execution.get("error"):
            status = "execution_failed"
        else:
            status = "executed"
        return AuctionOutcome(
            auction_id=state["auction_id"],
            task=opened.get("task") or state.get("auction_task") or "",
            task_message_id=opened.get("task_message_id"),
            status=status,
            reason=reason,
            winner=winner,
            provisional_winner=state.get("auction_provisional"),
            plan=state.get("auction_plan") or "",
            fallback_used=reason.startswith("fallback"),
            answer=execution.get("answer"),
            execution_error=execution.get("error"),
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
            skipped=reason.startswith("skipped"),
            budget_usd=(state.get("auction_budget") or {}).get("budget_usd"),
            approved_by=opened.get("approved_by"),
        )

    def _finish(state: AuctionState, outcome: AuctionOutcome, phases: Mapping[str, CallUsage],
                runtime: Runtime[Any]) -> dict[str, Any] | Command[Any]:
        _emit(runtime, "outcome", **outcome.model_dump(mode="json", exclude={"plan", "answer"}))
        update = {**_ledger(phases), "auction_outcome": outcome.to_state()}
        if route == "parent" and outcome.winner:
            destinations = parent_destinations or {}
            decision = {key: state.get(key) for key in AUCTION_KEYS if key in state and key != "messages"}
            return Command(graph=Command.PARENT, goto=destinations.get(outcome.winner, outcome.winner),
                           update={**decision, **update})
        return update

    def _remembered(outcome: AuctionOutcome, error: Exception | None) -> AuctionOutcome:
        if error is not None:
            return outcome.model_copy(update={"memory_error": f"{type(error).__name__}: {error}"[:500]})
        return outcome.model_copy(update={"memory_written": True})

    def record_outcome(state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]
                       ) -> dict[str, Any] | Command[Any]:
        bids, phases = _records(state)
        outcome = _outcome(state, bids, phases)
        if evaluate is not None and outcome.answer is not None:
            outcome = _judged_by(outcome, _call_evaluator_sync(evaluate, outcome.task, outcome.answer))
        if memory is not None and outcome.winner:
            try:
                memory.write(memory.store_for(runtime.store), memory.namespace_for(runtime.context, config),
                             _memory_record(names, bids, outcome))
                outcome = _remembered(outcome, None)
            except Exception as err:  # noqa: BLE001 - a store failure is recorded; the outcome is not lost
                outcome = _remembered(outcome, err)
        return _finish(state, outcome, phases, runtime)

    async def arecord_outcome(state: AuctionState, config: RunnableConfig, runtime: Runtime[Any]
                              ) -> dict[str, Any] | Command[Any]:
        bids, phases = _records(state)
        outcome = _outcome(state, bids, phases)
        if evaluate is not None and outcome.answer is not None:
            outcome = _judged_by(outcome, await _call_evaluator(evaluate, outcome.task, outcome.answer))
        if memory is not None and outcome.winner:
            try:
                await memory.awrite(memory.store_for(runtime.store), memory.namespace_for(runtime.context, config),
                                    _memory_record(names, bids, outcome))
                outcome = _remembered(outcome, None)
            except Exception as err:  # noqa: BLE001 - as above
                outcome = _remembered(outcome, err)
        return _finish(state, outcome, phases, runtime)

    # ---- The graph, in phase order ------------------------------------------------------------------------------
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(state_schema, context_schema=context_schema)
    graph.add_node("open_auction", RunnableCallable(open_auction, aopen_auction, name="open_auction"))
    # (mypy matches no add_node overload for this input schema with an error handler, though it runs as typed)
    graph.add_node("bid", RunnableCallable(bid_sync, bid_async, name="bid"),  # type: ignore[call-overload]
                   input_schema=BidRequest, retry_policy=bid_retry, error_handler=bid_failed)
    graph.add_node("collect_bids", collect_bids)
    graph.add_node("judge", RunnableCallable(judge_sync, judge_async, name="judge"), input_schema=JudgeRequest,
                   error_handler=judge_failed)
    graph.add_node("score", score)
    if refine_rounds:
        graph.add_node("recall", RunnableCallable(recall_sync, recall_async, name="recall"))
    if approve:
        graph.add_node("approve", approve_winner)
    executor_nodes: list[str] = []
    if route == "internal":
        for name in names:
            sync_body, async_body = make_execute(pool[name])
            graph.add_node(f"execute_{name}", RunnableCallable(sync_body, async_body, name=f"execute_{name}"),
                           error_handler=execution_failed)
            graph.add_edge(f"execute_{name}", "record_outcome")
            executor_nodes.append(f"execute_{name}")
    # In parent mode the Command.PARENT targets are the host's nodes: the host declares them (`destinations=`).
    graph.add_node("record_outcome", RunnableCallable(record_outcome, arecord_outcome, name="record_outcome"))
    graph.add_edge(START, "open_auction")
    decided = [*(["approve"] if approve else []), *executor_nodes, "record_outcome"]
    graph.add_conditional_edges("open_auction", send_bids, ["bid", "score", *(decided if skip else [])])
    graph.add_edge("bid", "collect_bids")
    graph.add_conditional_edges("collect_bids", send_judgments, ["judge", "score"])
    graph.add_edge("judge", "score")
    if refine_rounds:
        graph.add_conditional_edges("score", after_score, ["recall", *decided])
        graph.add_conditional_edges("recall", send_refines, ["bid", *decided])
    else:
        graph.add_conditional_edges("score", after_score, decided)
    if approve:
        graph.add_conditional_edges("approve", _after_decision, [*executor_nodes, "record_outcome"])
    graph.add_edge("record_outcome", END)
    return graph


def _latest_bids(state: Mapping[str, Any]) -> dict[str, Bid]:
    """Each bidder's latest valid bid: its rewritten one after an outbid round, else its first."""
    latest: dict[str, Bid] = {}
    for record in state.get("auction_bids", []):
        bid = Bid.model_validate(record)
        if bid.ok and (bid.bidder not in latest or bid.round > latest[bid.bidder].round):
            latest[bid.bidder] = bid
    return latest


def _memory_record(pool: Sequence[str], bids: Sequence[Bid], outcome: AuctionOutcome) -> AuctionRecord:
    """What memory keeps of an auction: every bid with its score, the winners, the execution outcome."""
    return AuctionRecord(
        auction_id=outcome.auction_id,
        task=outcome.task,
        pool=list(pool),
        bids=[MemoryBid(bidder=b.bidder, phase=b.phase, round=b.round, plan=b.plan, plan_tokens=b.plan_tokens,
                        score=b.breakdown.score if b.breakdown is not None and b.ok else None) for b in bids],
        provisional_winner=outcome.provisional_winner,
        winner=outcome.winner,
        outbid=outcome.outbid,
        status=outcome.status,
        success=outcome.success,
        success_known=outcome.success is not None,
        cost_usd=outcome.total_cost_usd,
        execute_tokens=outcome.tokens_by_phase.get("execute", 0),
        execute_cost_usd=outcome.cost_usd_by_phase.get("execute", 0.0),
    )


def _task_of(state: Mapping[str, Any]) -> tuple[str, str | None]:
    """The task of a new auction, and the id of the human message it came from (None: from `auction_task`).

    On a checkpointed thread `auction_task` persists from the previous auction. It is taken as this auction's task
    unless it is still the previous auction's task and a human message arrived since: then that message is the new
    task (a chat thread), while a newly set `auction_task` always wins.
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


def _attempts_made(policy: RetryPolicy | Sequence[RetryPolicy] | None, error: BaseException) -> int:
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


async def _call_evaluator(evaluate: Evaluator, task: str, answer: str) -> bool | Exception:
    """The evaluator's verdict, awaited if it is async; its exception, if it raised (recorded, never fatal)."""
    try:
        verdict = evaluate(task, answer)
        return bool(await verdict) if inspect.isawaitable(verdict) else bool(verdict)
    except Exception as err:  # noqa: BLE001 - an evaluator failure is recorded, never fatal
        return err


def _call_evaluator_sync(evaluate: Evaluator, task: str, answer: str) -> bool | Exception:
    """`_call_evaluator` from the sync path, in a fresh thread: this thread may run beside an event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _call_evaluator(evaluate, task, answer)).result()


def _judged_by(outcome: AuctionOutcome, verdict: bool | Exception) -> AuctionOutcome:
    if isinstance(verdict, Exception):
        return outcome.model_copy(update={"evaluation_error": f"{type(verdict).__name__}: {verdict}"[:500]})
    return outcome.model_copy(update={"success": verdict})


def _check_options(
    pool: Mapping[str, Bidder],
    *,
    scorer: CostValueScorer | None,
    jury: bool | int,
    jury_scoring: str,
    memory: Any,
    refine: Any,
    max_bid_tokens: int,
    bid_timeout: float | None,
    execute_timeout: float | None,
    route: str,
    parent_destinations: Mapping[str, str] | None,
    fallback: str | bool | None,
    evaluate: Any,
    max_steps: int,
    state_schema: type[Any],
) -> CostValueScorer:
    if scorer is None:
        scorer = CostValueScorer()
    elif not isinstance(scorer, CostValueScorer):
        raise AuctionConfigError("scorer", f"must be a CostValueScorer, got {type(scorer).__name__}")
    unknown = sorted(set(scorer.weights.w_jury) - set(pool))
    if unknown:
        raise AuctionConfigError("scorer.weights.w_jury", f"names jurors not in the pool: {', '.join(unknown)}")
    if not isinstance(jury, (bool, int)) or (not isinstance(jury, bool) and not 1 <= jury <= len(pool)):
        raise AuctionConfigError("jury", f"must be True, False or a juror count in 1..{len(pool)}, got {jury!r}")
    if jury_scoring not in ("integer", "logprobs"):
        raise AuctionConfigError("jury_scoring", f"must be 'integer' or 'logprobs', got {jury_scoring!r}")
    if memory is not None and not isinstance(memory, AuctionMemory):
        raise AuctionConfigError("memory", f"must be an AuctionMemory or None, got {type(memory).__name__}")
    if not isinstance(refine, (bool, int)) or (not isinstance(refine, bool) and refine < 0):
        raise AuctionConfigError("refine", f"must be True, False or a number of rounds >= 0, got {refine!r}")
    if isinstance(max_bid_tokens, bool) or not isinstance(max_bid_tokens, int) or max_bid_tokens < 1:
        raise AuctionConfigError("max_bid_tokens", f"must be a positive int, got {max_bid_tokens!r}")
    if bid_timeout is not None and (isinstance(bid_timeout, bool) or not isinstance(bid_timeout, (int, float))
                                    or not bid_timeout > 0):
        raise AuctionConfigError("bid_timeout", f"must be a positive number of seconds or None, got {bid_timeout!r}")
    if execute_timeout is not None and (isinstance(execute_timeout, bool)
                                        or not isinstance(execute_timeout, (int, float)) or not execute_timeout > 0):
        raise AuctionConfigError("execute_timeout",
                                 f"must be a positive number of seconds or None, got {execute_timeout!r}")
    if route not in ("internal", "decide", "parent"):
        raise AuctionConfigError("route", f"must be 'internal', 'decide' or 'parent', got {route!r}")
    if parent_destinations is not None:
        if route != "parent":
            raise AuctionConfigError("parent_destinations", "only applies to route='parent'")
        stray = sorted(set(parent_destinations) - set(pool))
        if stray:
            raise AuctionConfigError("parent_destinations", f"names bidders not in the pool: {', '.join(stray)}")
    if fallback is True or (isinstance(fallback, str) and fallback not in pool) or not (
        fallback is None or fallback is False or isinstance(fallback, str)
    ):
        raise AuctionConfigError("fallback", f"must be None, False or a bidder's name, got {fallback!r}")
    if evaluate is not None and not callable(evaluate):
        raise AuctionConfigError("evaluate", "must be a callable evaluate(task, answer) -> bool")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise AuctionConfigError("max_steps", f"must be a positive int, got {max_steps!r}")
    declared = set(getattr(state_schema, "__annotations__", {}))
    for base in getattr(state_schema, "__mro__", ()):
        declared |= set(getattr(base, "__annotations__", {}))
    missing = [key for key in AUCTION_KEYS if key not in declared]
    if missing:
        raise AuctionConfigError("state_schema", f"lacks the auction keys {', '.join(missing)}; subclass AuctionState")
    return scorer

