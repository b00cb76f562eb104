"""Each phase node built and run alone: one node in a one-node graph, fed the state (or the `Send` payload) the
phases before it would have left, with no auction around it."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from langgraph_sale.options import Auction, AuctionOptions
from langgraph_sale.phases.bid import BidNode
from langgraph_sale.phases.decide import ScoreNode
from langgraph_sale.phases.judge import JudgeNode, panel
from langgraph_sale.phases.open import OpenAuction
from langgraph_sale.phases.outcome import RecordOutcome
from langgraph_sale.phases.route import Routes
from langgraph_sale.state import AuctionState, BidRequest, JudgeRequest
from langgraph_sale.testing import fake_pool
from langgraph_sale.types import Bid, JuryScore

TASK = "Deduplicate and sort a list of integers."


def alone(node: Any, state: dict[str, Any], payload: type[Any] | None = None) -> dict[str, Any]:
    """Run one node in a graph of its own and return what it wrote; a `Send` target gets `state` as its payload."""
    graph = StateGraph(AuctionState)
    if payload is None:
        graph.add_node(node.name, node)
        graph.add_edge(START, node.name)
    else:
        graph.add_node(node.name, node, input_schema=payload)
        graph.add_conditional_edges(START, lambda _: [Send(node.name, state)], [node.name])
    graph.add_edge(node.name, END)
    writes: dict[str, Any] = {}
    for update in graph.compile().stream({} if payload else state, stream_mode="updates"):
        writes.update(update[node.name] or {})
    return writes


def auction(**options: Any) -> Auction:
    return Auction(fake_pool(), AuctionOptions(**options))


def test_open_takes_the_task_from_the_last_human_message_and_opens_a_fresh_auction() -> None:
    opened = alone(OpenAuction(auction()), {"messages": [HumanMessage(TASK, id="m1")]})
    assert opened["auction_task"] == TASK and len(opened["auction_id"]) == 32
    assert opened["auction_run"] == {"task": TASK, "task_message_id": "m1"} and opened["auction_winner"] is None


def test_a_bid_node_writes_one_plan_with_its_tokens_and_entropy() -> None:
    request = BidRequest(auction_id="a1", bidder="small", task=TASK, phase="bid", round=0, current_plan="",
                         contrast=[])
    bid = Bid.model_validate(alone(BidNode(auction()), dict(request), BidRequest)["auction_bids"][0])
    assert bid.ok and bid.bidder == "small" and bid.plan.startswith("1. Restate")
    assert bid.plan_tokens > 0 and bid.entropy is not None


def test_a_judge_node_scores_one_plan_and_the_panel_keeps_the_author() -> None:
    bid = Bid(auction_id="a1", bidder="tiny", plan="1. Write the answer. 2. Done, a vague plan.", plan_tokens=9)
    request = JudgeRequest(auction_id="a1", juror="large", task=TASK, bids=[bid.to_state()])
    record = JuryScore.model_validate(alone(JudgeNode(auction()), dict(request), JudgeRequest)["auction_jury"][0])
    # The fake jury gives vague plans 1; read from one token, the score is its expected value over the digits.
    assert (record.juror, record.bidder, record.integer_score, record.method) == ("large", "tiny", 1, "digit")
    assert record.score == record.expected_score and 0.5 < record.score < 1.5
    assert "tiny" in panel(auction(jury=1), bid, TASK)


def test_the_score_node_picks_the_lowest_cost_minus_value() -> None:
    plans = {"tiny": "1. Write the answer. 2. Done, a vague plan.", "small": "1. Run unit tests.",
             "large": "1. Prove a property. 2. Run unit tests."}
    bids = [Bid(auction_id="a1", bidder=name, plan=plan, plan_tokens=10, entropy=0.5) for name, plan in plans.items()]
    jury = [JuryScore(auction_id="a1", juror="large", bidder=bid.bidder, bid_id=bid.id,
                      score=1.0 if bid.bidder == "tiny" else 5.0) for bid in bids]
    state = {"auction_id": "a1", "auction_task": TASK, "auction_bids": [b.to_state() for b in bids],
             "auction_jury": [j.to_state() for j in jury], "auction_run": {"task": TASK}}
    decided = alone(ScoreNode(auction(scorer=None)), state)
    assert decided["auction_winner"] == "small" and decided["auction_run"]["reason"] == "lowest score (cost - value)"
    assert decided["auction_scores"]["small"]["score"] < decided["auction_scores"]["large"]["score"]


def test_the_outcome_node_assembles_the_outcome_from_the_phases_notes() -> None:
    state = {"auction_id": "a1", "auction_task": TASK, "auction_winner": None, "auction_provisional": None,
             "auction_run": {"task": TASK, "status": "over_budget", "reason": "over_budget: nothing fits"}}
    outcome = alone(RecordOutcome(auction()), state)["auction_outcome"]
    assert outcome["status"] == "over_budget" and outcome["winner"] is None and outcome["bids"] == []


def test_the_routes_fan_out_one_bid_per_bidder_and_carry_a_decision_on() -> None:
    routes = Routes(auction())
    sends = routes.send_bids({"auction_id": "a1", "auction_task": TASK})
    assert [send.arg["bidder"] for send in sends if isinstance(send, Send)] == ["tiny", "small", "large"]
    assert routes.after_score({"auction_winner": "small"}) == "execute_small"
    assert Routes(auction(route="decide")).after_score({"auction_winner": "small"}) == "record_outcome"
    assert Routes(auction(approve=True)).after_score({"auction_winner": "small"}) == "approve"
