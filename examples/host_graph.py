"""The auction dropped into an existing graph: a help-desk graph with its own nodes before and after it.

The host state subclasses `AuctionState` and adds keys of its own (`ticket`, `reply`). A `triage` node turns the
ticket into the auction's task, the compiled auction runs as one subgraph node, and a `reply` node writes the
host's answer from the winner's message and the auction's cost. The auction never touches the host's keys.

    python examples/host_graph.py            # scripted fake pool, no server (about a second)
    python examples/host_graph.py --local    # the three real local models (minutes on 2 cores)
"""

from __future__ import annotations

import argparse
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_sale import AuctionNode, AuctionState, Bidder
from langgraph_sale.poolfile import chosen_pool
from langgraph_sale.report import format_auction

TICKET = "Customer #4521: our export script crashes on duplicate ids. Need a function that deduplicates and sorts."


class TicketState(AuctionState, total=False):
    ticket: str  # the host's own keys: the auction reads and writes only `messages` and `auction_*`
    reply: str


def triage(state: TicketState) -> dict[str, Any]:
    """Before the auction: turn the ticket into a self-contained task."""
    return {"auction_task": f"Write a Python function for this request: {state['ticket'].split(': ', 1)[1]}"}


def reply(state: TicketState) -> dict[str, Any]:
    """After the auction: the host's answer, from the winner's message and the auction's outcome."""
    answer, outcome = state["messages"][-1], state["auction_outcome"]
    return {"reply": f"Solved by {answer.name} for ${outcome['total_cost_usd']:.6f}:\n{answer.content}"}


def build_host(pool: list[Bidder], max_bid_tokens: int = 256) -> Any:
    host = StateGraph(TicketState)
    host.add_node("triage", triage)
    host.add_node("auction", AuctionNode(pool, max_bid_tokens=max_bid_tokens).compile())  # the subgraph node
    host.add_node("reply", reply)
    host.add_edge(START, "triage")
    host.add_edge("triage", "auction")
    host.add_edge("auction", "reply")
    host.add_edge("reply", END)
    return host.compile()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="run on the real local pool")
    parser.add_argument("--pool-file", help="run on the pool a pool file describes (default: $LANGGRAPH_SALE_POOL)")
    args = parser.parse_args()
    with chosen_pool(args.pool_file, local=args.local) as pool:
        app = build_host(pool, max_bid_tokens=150) if args.local else build_host(pool)
        print("Host graph:", " -> ".join(app.get_graph().nodes))
        state = app.invoke({"ticket": TICKET})
    print()
    print(format_auction(state))
    print()
    print(f"Host keys kept: ticket = {state['ticket'][:40]!r}...")
    print(f"Host reply: {state['reply']}")


if __name__ == "__main__":
    main()
