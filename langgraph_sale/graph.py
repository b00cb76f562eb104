"""`create_auction`: the SALE auction as an uncompiled LangGraph `StateGraph`, wired in the order of its phases.

```
START -> open_auction -(Send x |A|)-> bid -> collect_bids -(Send x jurors)-> judge -> score
score -> recall -(Send x cheaper bidders)-> bid (phase refine) -> collect_bids -> judge -> score   (outbid round)
score -> approve (interrupt: a person accepts, overrides or rejects) -> ...                       (approve=True)
score -> execute_<winner> -> record_outcome -> END          (route="internal")
execute_<winner> -> check_execution -> execute_<dearer bidder> -> check_execution -> ...          (escalate=...)
score -> record_outcome -> END                              (route="decide": the host routes with route_to_winner)
score -> record_outcome -> Command.PARENT goto <winner>     (route="parent")
```

Each phase is a node class in `langgraph_sale.phases` holding the `Auction` (the pool and its options, validated
once: `langgraph_sale.options`); the conditional edges are `phases.route.Routes`. This module only wires them.
`collect_bids` sits between the two fan-outs: a conditional edge hung on a `Send` target would fire once per branch.
Bid, judge and execute nodes end in an error handler that returns a `Command(goto=...)`: a plain dict from a
handler silently ends the run when every branch fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_sale.bidder import Bidder
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.options import DEFAULT_MAX_BID_TOKENS, Auction, AuctionOptions, Evaluator, Route
from langgraph_sale.phases.approve import ApproveNode
from langgraph_sale.phases.bid import BidNode, collect_bids
from langgraph_sale.phases.check import CheckExecution
from langgraph_sale.phases.decide import ScoreNode
from langgraph_sale.phases.execute import ExecuteNode
from langgraph_sale.phases.judge import JudgeNode
from langgraph_sale.phases.open import OpenAuction
from langgraph_sale.phases.outcome import RecordOutcome
from langgraph_sale.phases.refine import RecallNode
from langgraph_sale.phases.route import Routes
from langgraph_sale.state import AUCTION_KEYS, AuctionInput, AuctionOutput, AuctionState, BidRequest, JudgeRequest

__all__ = ["create_auction", "route_to_winner", "Route", "Evaluator", "DEFAULT_MAX_BID_TOKENS"]


def route_to_winner(state: Mapping[str, Any]) -> str:
    """For a host graph's conditional edge after a `route="decide"` auction: the winner's name, or `END`.

    Examples:
        >>> route_to_winner({"auction_winner": "small"}), route_to_winner({"auction_winner": None})
        ('small', '__end__')
    """
    winner = state.get("auction_winner")
    return winner if winner else END


def create_auction(
    bidders: Sequence[Bidder],
    options: AuctionOptions | None = None,
    *,
    state_schema: type[Any] = AuctionState,
    context_schema: type[Any] | None = None,
    **fields: Any,
) -> StateGraph[Any, Any, Any, Any]:
    """Build a SALE auction over a pool of bidders, as an uncompiled `StateGraph`.

    Every bidder bids a short plan (in parallel); every juror scores every bid 0-5 (in parallel, blind); each bid
    scores `C - V` (`CostValueScorer`); the lowest wins; the winner executes the task in its own subgraph guided by
    its plan; the outcome (winner, plan, every score term, tokens and dollars by phase) lands in state.

    Args:
        bidders: The pool, in order (the order breaks ties after price).
        options: The auction's options (`AuctionOptions`: the jury, memory and the outbid round, skipping, bid caps
            and timeouts, routing, approval, budgets). Or give its fields as keywords: `jury=2, route="decide"`.
        state_schema: The graph's state; must declare every key of `AuctionState`.
        context_schema: The run context schema, passed to `StateGraph`.
        **fields: `AuctionOptions` fields, when `options` is not given.

    Returns:
        The uncompiled graph: `create_auction(...).compile(checkpointer=..., store=...)`.

    Raises:
        AuctionConfigError: On an invalid pool or option, naming the field.

    Examples:
        >>> from langgraph_sale import create_auction
        >>> from langgraph_sale.testing import fake_pool
        >>> app = create_auction(fake_pool()).compile(name="auction")
        >>> result = app.invoke({"auction_task": "Deduplicate and sort a list of integers."})
        >>> result["auction_winner"], result["messages"][-1].name
        ('small', 'small')
    """
    auction = Auction(bidders, options_of(options, fields))
    _check_state_schema(state_schema)
    options = auction.options
    routes = Routes(auction)
    # A caller gives a task and gets the decision and its outcome back; the rest of the state stays inside.
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(state_schema, context_schema=context_schema,
                                                       input_schema=AuctionInput, output_schema=AuctionOutput)

    # Phase 0: open the auction (or skip it, where memory says it cannot pay).
    graph.add_node("open_auction", OpenAuction(auction))
    graph.add_edge(START, "open_auction")
    # Phase 1: sealed bids, one Send per bidder; a bid whose retries are spent is recorded as failed.
    bid = BidNode(auction)
    # (mypy matches no add_node overload for this input schema with an error handler, though it runs as typed)
    graph.add_node("bid", bid, input_schema=BidRequest,  # type: ignore[call-overload]
                   retry_policy=options.bid_retry, error_handler=bid.failed)
    graph.add_node("collect_bids", collect_bids)
    graph.add_edge("bid", "collect_bids")
    # Phase 2: the jury, one Send per juror (or per (juror, bid) without `jury_batch`).
    judge = JudgeNode(auction)
    graph.add_node("judge", judge, input_schema=JudgeRequest, error_handler=judge.failed)
    graph.add_conditional_edges("collect_bids", routes.send_judgments, ["judge", "score"])
    graph.add_edge("judge", "score")
    # Phase 3: cost - value; the lowest score wins.
    graph.add_node("score", ScoreNode(auction))
    # What follows a decision: a person's approval, the winner's execution, the outcome.
    executors = [f"execute_{name}" for name in auction.names] if options.route == "internal" else []
    decided = [*(["approve"] if options.approve else []), *executors, "record_outcome"]
    graph.add_conditional_edges("open_auction", routes.send_bids, ["bid", "score", *(decided if options.skip else [])])
    # Phase 4: the outbid round: cheaper bidders rewrite their bids from recalled auctions.
    if options.refine_rounds:
        graph.add_node("recall", RecallNode(auction))
        graph.add_conditional_edges("score", routes.after_score, ["recall", *decided])
        graph.add_conditional_edges("recall", routes.send_refines, ["bid", *decided])
    else:
        graph.add_conditional_edges("score", routes.after_score, decided)
    # Optional: a person approves or overrides the winner (outside the parallel branches).
    if options.approve:
        graph.add_node("approve", ApproveNode(auction))
        graph.add_conditional_edges("approve", routes.carried_out, [*executors, "record_outcome"])
    # Phase 5: the winner executes, guided by its plan. (With route="parent" the run ends in a Command.PARENT to
    # the host's node for the winner, which the host declares.)
    executed = "check_execution" if options.escalate else "record_outcome"
    for name in auction.names if options.route == "internal" else []:
        execute = ExecuteNode(auction, auction.pool[name])
        graph.add_node(f"execute_{name}", execute, error_handler=execute.failed)
        graph.add_edge(f"execute_{name}", executed)
    # Phase 5b (escalate=Escalate(check), off by default as in the paper): a rejected answer goes up the price ladder.
    if options.escalate:
        graph.add_node("check_execution", CheckExecution(auction))
        graph.add_conditional_edges("check_execution", routes.after_check, [*executors, "record_outcome"])
    # Phase 6: feedback into state and memory.
    graph.add_node("record_outcome", RecordOutcome(auction))
    graph.add_edge("record_outcome", END)
    return graph


def options_of(options: AuctionOptions | None, fields: Mapping[str, Any]) -> AuctionOptions:
    """The options object of `create_auction(bidders, options, **fields)`: the one given, or one made of the fields.

    Raises:
        AuctionConfigError: On both at once, an unknown field, or an invalid value (naming the field).
    """
    if options is not None:
        if fields:
            raise AuctionConfigError("options", f"give an AuctionOptions or its fields as keywords, not both "
                                     f"(got {', '.join(sorted(fields))} too)")
        if not isinstance(options, AuctionOptions):
            raise AuctionConfigError("options", f"must be an AuctionOptions, got {type(options).__name__}")
        return options
    known = AuctionOptions.__dataclass_fields__
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise AuctionConfigError(unknown[0], f"is not an auction option; the options are {', '.join(known)}")
    return AuctionOptions(**fields)


def _check_state_schema(state_schema: type[Any]) -> None:
    declared = set(getattr(state_schema, "__annotations__", {}))
    for base in getattr(state_schema, "__mro__", ()):
        declared |= set(getattr(base, "__annotations__", {}))
    missing = [key for key in AUCTION_KEYS if key not in declared]
    if missing:
        raise AuctionConfigError("state_schema", f"lacks the auction keys {', '.join(missing)}; subclass AuctionState")
