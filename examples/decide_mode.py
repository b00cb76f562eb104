"""Decide mode: the auction only picks the winner; the host graph routes to agent nodes of its own.

With `route="decide"` the auction stops after scoring (`auction_outcome.status == "decided"`, no execution). A
conditional edge with `route_to_winner` and a path map sends the host to its own nodes: here the two cheaper
bidders share a `quick_answer` node, the largest one gets a `careful_answer` node that asks for a self-check. Both
host nodes call the winner's model with the winning plan; they could be any agents of the host.

    python examples/decide_mode.py            # scripted fake pool, no server (about a second)
    python examples/decide_mode.py --local    # the three real local models (minutes on 2 cores)
"""

from __future__ import annotations

import argparse
from collections.abc import Hashable
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph

from langgraph_sale import AuctionNode, AuctionState, Bidder, route_to_winner
from langgraph_sale.poolfile import chosen_pool
from langgraph_sale.report import format_auction


class HostState(AuctionState, total=False):
    handled_by: str  # which host node ran the task


TASK = "Write a Python function `dedup_sorted(xs: list[int]) -> list[int]` that removes duplicates and sorts."


def build_host(pool: list[Bidder], max_bid_tokens: int = 256) -> Any:
    models = {bidder.name: bidder.model for bidder in pool}
    largest = max(pool, key=lambda bidder: bidder.price_per_mtok).name

    def host_agent(node: str, extra: str) -> Any:
        def run(state: HostState) -> dict[str, Any]:
            winner, plan = state["auction_winner"] or "", state["auction_plan"]
            prompt = [SystemMessage(f"Follow this plan:\n{plan}\n{extra}"), HumanMessage(state["auction_task"])]
            answer = models[winner].invoke(prompt)
            return {"messages": [AIMessage(answer.content, name=winner)], "handled_by": node}

        return run

    host = StateGraph(HostState)
    host.add_node("auction", AuctionNode(pool, route="decide", max_bid_tokens=max_bid_tokens).compile())
    host.add_node("quick_answer", host_agent("quick_answer", "Answer with the code only."))
    host.add_node("careful_answer", host_agent("careful_answer", "Check the code against the plan before answering."))
    host.add_edge(START, "auction")
    # The path map: winner name -> host node; END when nobody won (fallback=False and no valid bid).
    path_map: dict[Hashable, str] = {bidder.name: "quick_answer" for bidder in pool}
    path_map.update({largest: "careful_answer", END: END})
    host.add_conditional_edges("auction", route_to_winner, path_map)
    host.add_edge("quick_answer", END)
    host.add_edge("careful_answer", END)
    return host.compile()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="run on the real local pool")
    parser.add_argument("--pool-file", help="run on the pool a pool file describes (default: $LANGGRAPH_SALE_POOL)")
    args = parser.parse_args()
    with chosen_pool(args.pool_file, local=args.local) as pool:
        app = build_host(pool, max_bid_tokens=150) if args.local else build_host(pool)
        state = app.invoke({"auction_task": TASK})
    print(format_auction(state))  # no Answer line: the auction decided, the host executed
    print()
    outcome = state["auction_outcome"]
    answer = state["messages"][-1]
    print(f"Auction status: {outcome['status']} (answer in the outcome: {outcome['answer']})")
    print(f"Routed to host node: {state['handled_by']} (with {answer.name}'s model and plan)")
    print(f"Host answer: {answer.content}")


if __name__ == "__main__":
    main()
