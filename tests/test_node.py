"""`AuctionNode` as a node of a host graph: `builder.add_node("auction", AuctionNode(pool))`.

Over `MessagesState` (the host declares nothing of the auction) and over a host state of its own, sync and async,
streamed, and on a checkpointed chat thread where each new human message is a new auction.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from langgraph_sale import AuctionNode
from langgraph_sale.phases.common import EVENT
from tests.support import TASK, run, scripted_pool


def chat_host(node: AuctionNode, state: type[Any] = MessagesState, **compile_kwargs: Any) -> Any:
    builder = StateGraph(state)
    builder.add_node("auction", node)
    builder.add_edge(START, "auction")
    builder.add_edge("auction", END)
    return builder.compile(**compile_kwargs)


async def test_a_messages_host_gets_the_answer_as_one_message_named_after_the_winner(mode: str) -> None:
    app = chat_host(AuctionNode(scripted_pool(label="pool")))
    result = await run(app, {"messages": [HumanMessage(TASK)]}, mode)
    assert set(result) == {"messages"}  # nothing of the auction's own state reaches a host that does not declare it
    assert [type(m) for m in result["messages"]] == [HumanMessage, AIMessage]
    assert result["messages"][-1].name == "small" and result["messages"][-1].content == "pool: answer from small"


class AuditedState(MessagesState):
    ticket: str
    auction_winner: str | None
    auction_outcome: dict[str, Any]


async def test_a_host_that_declares_the_outcome_keeps_the_audit_and_its_own_keys(mode: str) -> None:
    pool = scripted_pool(label="pool")
    app = chat_host(AuctionNode(pool), AuditedState)
    result = await run(app, {"ticket": "T-1", "messages": [HumanMessage(TASK)]}, mode)
    assert result["ticket"] == "T-1" and result["auction_winner"] == "small"
    outcome = result["auction_outcome"]
    assert outcome["status"] == "executed" and outcome["task"] == TASK and outcome["winner"] == "small"
    assert set(outcome["cost_usd_by_phase"]) == {"bid", "jury", "execute"}
    assert "auction_bids" not in result


def test_the_auctions_events_reach_the_hosts_stream() -> None:
    app = chat_host(AuctionNode(scripted_pool(label="pool")))
    events = [chunk for namespace, chunk in app.stream({"messages": [HumanMessage(TASK)]}, stream_mode="custom",
                                                       subgraphs=True) if namespace]
    kinds = [event[EVENT] for event in events]
    assert kinds[0] == "auction_opened" and kinds[-1] == "outcome"
    assert kinds.count("bid_submitted") == 3 and "winner" in kinds and "executed" in kinds


def test_each_human_message_of_a_chat_thread_is_a_new_auction() -> None:
    app = chat_host(AuctionNode(scripted_pool(label="pool")), AuditedState, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "chat"}}
    first = app.invoke({"ticket": "T-1", "messages": [HumanMessage(TASK)]}, config)
    second = app.invoke({"messages": [HumanMessage("Now reverse a string.")]}, config)
    assert [m.type for m in second["messages"]] == ["human", "ai", "human", "ai"]
    assert second["auction_outcome"]["task"] == "Now reverse a string."
    assert second["auction_outcome"]["auction_id"] != first["auction_outcome"]["auction_id"]
