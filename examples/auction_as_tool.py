"""The auction as a tool: `AuctionNode(pool).as_tool()` in a tool-calling agent's `ToolNode` loop.

An orchestrating agent decides to hand a task to the pool by calling the `run_auction` tool; the tool runs the
whole auction (bids, jury, scores, the winner's execution) and returns the winner's answer as the tool result.
Inside the graph the tool's auction streams its own events, so the run below also shows what happened inside it.

Offline the orchestrator is a scripted tool-calling model. With `--local` the pool is the three real local models;
the orchestrator stays scripted, since those small models cannot emit native tool calls.

    python examples/auction_as_tool.py            # scripted fakes, no server (about a second)
    python examples/auction_as_tool.py --local    # the real local pool behind the tool (minutes on 2 cores)
"""

from __future__ import annotations

import argparse
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from langgraph_sale import AuctionNode, Bidder
from langgraph_sale.poolfile import chosen_pool
from langgraph_sale.testing import ScriptedChatModel

REQUEST = "I need a Python function that deduplicates and sorts a list of integers, please."
TASK = "Write a Python function that removes duplicates from a list of integers and returns it sorted."


def build_agent(pool: list[Bidder], max_bid_tokens: int = 256) -> Any:
    auction_tool = AuctionNode(pool, max_bid_tokens=max_bid_tokens).as_tool()
    orchestrator = ScriptedChatModel(answers=[  # first a tool call, then the final reply (scripted)
        AIMessage("", tool_calls=[{"name": auction_tool.name, "args": {"task": TASK}, "id": "call_1"}]),
        "Done: the pool's winner wrote the function (see the tool result above).",
    ]).bind_tools([auction_tool])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [orchestrator.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([auction_tool]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)  # to "tools" on a tool call, else END
    graph.add_edge("tools", "agent")
    return graph.compile()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="run the auction on the real local pool")
    parser.add_argument("--pool-file", help="run on the pool a pool file describes (default: $LANGGRAPH_SALE_POOL)")
    args = parser.parse_args()
    with chosen_pool(args.pool_file, local=args.local) as pool:
        app = build_agent(pool, max_bid_tokens=150) if args.local else build_agent(pool)
        messages: list[Any] = []
        # subgraphs=True: the auction inside the tool is a subgraph, and its custom events come from there.
        inputs = {"messages": [HumanMessage(REQUEST)]}
        for namespace, mode, chunk in app.stream(inputs, stream_mode=["custom", "values"], subgraphs=True):
            if mode == "values":
                messages = chunk["messages"] if not namespace else messages
            elif chunk.get("auction_event") == "bid_submitted":
                print(f"  [inside the tool] bid from {chunk['bidder']}: {chunk['plan_tokens']} tokens", flush=True)
            elif chunk.get("auction_event") == "winner":
                print(f"  [inside the tool] winner: {chunk['winner']} ({chunk['reason']})")
            elif chunk.get("auction_event") == "outcome":
                print(f"  [inside the tool] auction cost: ${chunk['total_cost_usd']:.6f}")
    print()
    for message in messages:
        if isinstance(message, AIMessage) and message.tool_calls:
            call = message.tool_calls[0]
            print(f"agent -> tool call {call['name']}(task={call['args']['task'][:60]!r}...)")
        else:
            label = f"Tool result ({message.name})" if message.type == "tool" else message.type
            print(f"{label}: {message.content}")


if __name__ == "__main__":
    main()
