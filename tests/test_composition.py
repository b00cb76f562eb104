"""The auction inside host graphs: as a subgraph node, side by side, in decide and parent mode, and as a tool."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from langgraph_sale import AuctionConfigError, AuctionInputError, AuctionNode, AuctionState, Bidder, route_to_winner
from langgraph_sale.testing import ScriptedChatModel, fake_pool
from tests.support import PLANS, PRICES, TASK, models_of, run, scripted_pool


def ai_messages(state: Mapping[str, Any]) -> list[AIMessage]:
    return [message for message in state["messages"] if isinstance(message, AIMessage)]


def host_agent(name: str, ran: list[str]) -> Any:
    """A host graph's own agent node: it records that it ran and answers with the auction's plan."""

    def agent(state: AuctionState) -> dict[str, Any]:
        ran.append(name)
        return {"messages": [AIMessage(f"host agent {name} followed: {state.get('auction_plan')}", name=name)]}

    return agent


# ---- (a) a subgraph node in a host with keys of its own --------------------------------------------------------


class HostState(AuctionState):
    task: str


async def test_auction_as_a_node_leaves_host_keys_alone_and_answers_in_host_messages(mode: str) -> None:
    pool = scripted_pool(label="pool")
    host = StateGraph(HostState)
    host.add_node("auction", AuctionNode(pool).compile())
    host.add_edge(START, "auction")
    host.add_edge("auction", END)
    app = host.compile()
    inputs = {"task": "the host's own ticket label", "auction_task": TASK, "messages": [HumanMessage("Please help.")]}

    result = await run(app, inputs, mode)

    assert result["task"] == "the host's own ticket label"
    assert [message.content for message in result["messages"]] == ["Please help.", "pool: answer from small"]
    assert result["messages"][-1].name == "small"
    assert result["auction_winner"] == "small"
    assert result["auction_outcome"]["task"] == TASK
    assert len(result["auction_outcome"]["bids"]) == len(pool)


# ---- (b) two auctions in one host ------------------------------------------------------------------------------


def test_two_auctions_side_by_side_in_a_messages_only_host() -> None:
    code_pool, prose_pool = scripted_pool(label="code"), scripted_pool(label="prose")
    host = StateGraph(MessagesState)
    host.add_node("code_auction", AuctionNode(code_pool).compile(name="a1"))
    host.add_node("prose_auction", AuctionNode(prose_pool).compile(name="a2"))
    host.add_edge(START, "code_auction")
    host.add_edge(START, "prose_auction")
    host.add_edge("code_auction", END)
    host.add_edge("prose_auction", END)

    result = host.compile().invoke({"messages": [HumanMessage(TASK)]})

    answers = sorted(str(message.content) for message in ai_messages(result))
    assert answers == ["code: answer from small", "prose: answer from small"]
    assert result["messages"][0].content == TASK
    assert set(result) == {"messages"}
    for model in [*models_of(code_pool).values(), *models_of(prose_pool).values()]:
        assert model.count("bid") == 1


def test_two_auctions_in_sequence_in_an_auction_state_host() -> None:
    first_pool, second_pool = scripted_pool(label="first"), scripted_pool(label="second")
    host = StateGraph(AuctionState)
    host.add_node("first_auction", AuctionNode(first_pool).compile(name="a1"))
    host.add_node("second_auction", AuctionNode(second_pool).compile(name="a2"))
    host.add_edge(START, "first_auction")
    host.add_edge("first_auction", "second_auction")
    host.add_edge("second_auction", END)

    result = host.compile().invoke({"messages": [HumanMessage(TASK)]})

    assert [message.content for message in ai_messages(result)] == [
        "first: answer from small", "second: answer from small"]
    outcome = result["auction_outcome"]
    assert outcome["answer"] == "second: answer from small"
    assert len(outcome["bids"]) == len(second_pool)
    assert {bid["auction_id"] for bid in outcome["bids"]} == {outcome["auction_id"]}
    assert len(outcome["jury"]) == len(second_pool) ** 2
    for model in [*models_of(first_pool).values(), *models_of(second_pool).values()]:
        assert model.count("bid") == 1


# ---- (c) decide mode: the host routes to its own agents --------------------------------------------------------


def decide_host(pool: list[Bidder], ran: list[str], **options: Any) -> Any:
    host = StateGraph(AuctionState)
    host.add_node("auction", AuctionNode(pool, route="decide", **options).compile())
    for name in PRICES:
        host.add_node(name, host_agent(name, ran))
        host.add_edge(name, END)
    host.add_edge(START, "auction")
    host.add_conditional_edges("auction", route_to_winner, [*PRICES, END])
    return host.compile()


async def test_decide_mode_routes_the_host_to_its_own_agent_for_the_winner(mode: str) -> None:
    pool = scripted_pool(label="pool")
    ran: list[str] = []
    app = decide_host(pool, ran)

    inputs = {"auction_task": TASK}
    result = await run(app, inputs, mode)

    assert ran == ["small"]
    assert all(model.count("execute") == 0 for model in models_of(pool).values())
    assert result["auction_outcome"]["status"] == "decided"
    assert result["auction_outcome"]["answer"] is None
    assert result["auction_winner"] == "small"
    assert ai_messages(result)[-1].content == f"host agent small followed: {PLANS['small']}"
    assert len(ai_messages(result)) == 1


def test_decide_mode_with_no_valid_bid_and_no_fallback_routes_to_end() -> None:
    failing = {"fail": {"bid": -1}}
    pool = scripted_pool(label="pool", tiny=failing, small=failing, large=failing)
    ran: list[str] = []
    app = decide_host(pool, ran, fallback=False, bid_retry=None)

    result = app.invoke({"auction_task": TASK})

    assert ran == []
    assert route_to_winner(result) == END
    assert result["auction_winner"] is None
    assert result["auction_outcome"]["status"] == "no_bids"
    assert ai_messages(result) == []
    assert all(model.count("execute") == 0 for model in models_of(pool).values())


# ---- (d) parent mode: Command.PARENT to the host's node -------------------------------------------------------


async def test_parent_mode_sends_the_host_to_the_winners_destination(mode: str) -> None:
    pool = scripted_pool(label="pool")
    ran: list[str] = []
    destinations = {"tiny": "cheap_agent", "small": "cheap_agent", "large": "strong_agent"}
    host = StateGraph(AuctionState)
    host.add_node("auction", AuctionNode(pool, route="parent", parent_destinations=destinations).compile(),
                  destinations=("cheap_agent", "strong_agent"))
    host.add_node("cheap_agent", host_agent("cheap_agent", ran))
    host.add_node("strong_agent", host_agent("strong_agent", ran))
    host.add_edge(START, "auction")
    host.add_edge("cheap_agent", END)
    host.add_edge("strong_agent", END)
    app = host.compile()

    inputs = {"auction_task": TASK}
    result = await run(app, inputs, mode)

    assert ran == ["cheap_agent"]
    assert result["auction_winner"] == "small"
    assert result["auction_plan"] == PLANS["small"]
    assert result["auction_outcome"]["status"] == "decided"
    assert set(result["auction_outcome"]["scores"]) == set(PRICES)
    assert all(model.count("execute") == 0 for model in models_of(pool).values())
    assert ai_messages(result)[-1].name == "cheap_agent"


def test_parent_mode_defaults_to_the_host_node_named_after_the_winner() -> None:
    pool = scripted_pool(label="pool")
    ran: list[str] = []
    host = StateGraph(AuctionState)
    host.add_node("auction", AuctionNode(pool, route="parent").compile(), destinations=tuple(PRICES))
    for name in PRICES:
        host.add_node(name, host_agent(name, ran))
        host.add_edge(name, END)
    host.add_edge(START, "auction")

    host.compile().invoke({"auction_task": TASK})

    assert ran == ["small"]


# ---- (e) as a tool ---------------------------------------------------------------------------------------------


def test_as_tool_answers_with_the_winners_answer() -> None:
    pool = scripted_pool(label="pool")
    tool = AuctionNode(pool).as_tool()
    assert tool.name == "run_auction"
    assert set(tool.args) == {"task"}
    assert tool.invoke({"task": TASK}) == "pool: answer from small"
    bid_prompt = [messages for kind, messages in models_of(pool)["small"].calls if kind == "bid"][0]
    assert TASK in bid_prompt[-1].content


def test_as_tool_call_carries_the_outcome_as_artifact() -> None:
    tool = AuctionNode(scripted_pool(label="pool")).as_tool()
    message = tool.invoke({"type": "tool_call", "name": "run_auction", "id": "call_1", "args": {"task": TASK}})
    assert message.content == "pool: answer from small"
    assert message.artifact["winner"] == "small" and message.artifact["status"] == "executed"
    assert message.artifact["total_cost_usd"] > 0


async def test_as_tool_answers_asynchronously() -> None:
    tool = AuctionNode(scripted_pool(label="pool")).as_tool(name="ask_the_pool")
    assert tool.name == "ask_the_pool"
    assert await tool.ainvoke({"task": TASK}) == "pool: answer from small"


def test_as_tool_rejects_an_empty_task() -> None:
    pool = scripted_pool(label="pool")
    with pytest.raises(AuctionInputError):
        AuctionNode(pool).as_tool().invoke({"task": "  "})
    assert all(not model.calls for model in models_of(pool).values())


def test_as_tool_reports_when_no_bidder_answers() -> None:
    failing = {"fail": {"bid": -1}}
    pool = scripted_pool(label="pool", tiny=failing, small=failing, large=failing)
    answer = AuctionNode(pool, fallback=False, bid_retry=None).as_tool().invoke({"task": TASK})
    assert "no answer" in answer and "no_bids" in answer


@pytest.mark.parametrize("route", ["decide", "parent"])
def test_as_tool_needs_internal_routing(route: str) -> None:
    with pytest.raises(AuctionConfigError) as raised:
        AuctionNode(scripted_pool(label="pool"), route=route).as_tool()
    assert raised.value.field == "route"


def tool_calling_model() -> ScriptedChatModel:
    """An agent model that calls the auction tool once, then answers "final"."""
    call = AIMessage(content="", tool_calls=[{"name": "run_auction", "args": {"task": TASK}, "id": "c1"}])
    return ScriptedChatModel(answers=[call, "final"], name_hint="agent")


def assert_the_agent_used_the_auction(result: Mapping[str, Any], agent_model: ScriptedChatModel,
                                      pool: list[Bidder]) -> None:
    tool_messages = [message for message in result["messages"] if isinstance(message, ToolMessage)]
    assert len(tool_messages) == 1
    assert tool_messages[0].tool_call_id == "c1"
    assert tool_messages[0].content == "pool: answer from small"
    assert result["messages"][-1].content == "final"
    assert agent_model.count("execute") == 2  # the agent's own calls: the tool call, then the final answer
    assert [model.count("execute") for model in models_of(pool).values()] == [0, 1, 0]


async def test_as_tool_inside_a_hand_made_tool_calling_graph(mode: str) -> None:
    pool = scripted_pool(label="pool")
    tool = AuctionNode(pool).as_tool()
    agent_model = tool_calling_model()
    bound = agent_model.bind_tools([tool])

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    def agent_sync(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent_sync if mode == "sync" else agent)
    graph.add_node("tools", ToolNode([tool]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition, ["tools", END])
    graph.add_edge("tools", "agent")
    app = graph.compile()

    inputs = {"messages": [HumanMessage("Use the pool for this.")]}
    result = await run(app, inputs, mode)

    assert_the_agent_used_the_auction(result, agent_model, pool)


def test_as_tool_auction_events_reach_the_callers_stream() -> None:
    pool = scripted_pool(label="pool")
    tool = AuctionNode(pool).as_tool()
    bound = tool_calling_model().bind_tools([tool])
    graph = StateGraph(MessagesState)
    graph.add_node("agent", lambda state: {"messages": [bound.invoke(state["messages"])]})
    graph.add_node("tools", ToolNode([tool]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition, ["tools", END])
    graph.add_edge("tools", "agent")

    chunks = list(graph.compile().stream({"messages": [HumanMessage("Use the pool.")]}, stream_mode="custom",
                                        subgraphs=True))

    events = [payload["auction_event"] for _, payload in chunks if "auction_event" in payload]
    assert events[0] == "auction_opened" and events[-1] == "outcome"
    assert "winner" in events


def test_as_tool_inside_create_react_agent() -> None:
    from langgraph.prebuilt import create_react_agent

    pool = scripted_pool(label="pool")
    agent_model = tool_calling_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # create_react_agent is deprecated for create_agent
        agent = create_react_agent(agent_model, [AuctionNode(pool).as_tool()])

    result = agent.invoke({"messages": [HumanMessage("Use the pool for this.")]})

    assert_the_agent_used_the_auction(result, agent_model, pool)


# ---- (f) route_to_winner ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "destination"),
    [
        ({"auction_winner": "small"}, "small"),
        ({"auction_winner": "large", "auction_outcome": {"status": "decided"}}, "large"),
        ({"auction_winner": None}, END),
        ({"auction_winner": ""}, END),
        ({}, END),
    ],
)
def test_route_to_winner(state: dict[str, Any], destination: str) -> None:
    assert route_to_winner(state) == destination


def test_auction_node_compiles_with_room_for_the_whole_jury_at_once() -> None:
    pool = fake_pool()
    app = AuctionNode(pool).compile()
    assert app.config["max_concurrency"] == len(pool) ** 2
    assert app.name == "auction"
    assert app.invoke({"auction_task": "Sort a list."})["auction_outcome"]["status"] == "executed"
