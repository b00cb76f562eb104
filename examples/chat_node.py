"""The auction as one node of a chat graph: `builder.add_node("auction", AuctionNode(pool))` over `MessagesState`.

The host declares nothing of the auction: the last human message is the task, and the winner's answer comes back
as one message named after the winner. A host that also declares `auction_outcome` gets the audit (winner, every
bid's score terms, cost by phase). The auction's events reach the host's stream (`stream_mode="custom"` with
`subgraphs=True`), here printed as they happen.

    python examples/chat_node.py            # scripted fake pool, no server (about a second)
    python examples/chat_node.py --local    # the three real local models (minutes on 2 cores)
"""

from __future__ import annotations

import argparse
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

from langgraph_sale import AuctionNode, Bidder
from langgraph_sale.poolfile import chosen_pool

QUESTION = "Write a Python function that deduplicates and sorts a list of integers."


class ChatState(MessagesState):
    auction_outcome: dict[str, Any]  # optional: declare it to keep the auction's audit in the host's state


def build_chat(pool: list[Bidder], max_bid_tokens: int = 256) -> Any:
    builder = StateGraph(ChatState)
    builder.add_node("auction", AuctionNode(pool, max_bid_tokens=max_bid_tokens))
    builder.add_edge(START, "auction")
    return builder.compile(checkpointer=InMemorySaver())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="run on the real local pool")
    parser.add_argument("--pool-file", help="run on the pool a pool file describes (default: $LANGGRAPH_SALE_POOL)")
    args = parser.parse_args()
    with chosen_pool(args.pool_file, local=args.local) as pool:
        chat = build_chat(pool, max_bid_tokens=150) if args.local else build_chat(pool)
        config = {"configurable": {"thread_id": "chat-1"}}
        for _, event in chat.stream({"messages": [("user", QUESTION)]}, config, stream_mode="custom",
                                    subgraphs=True):
            print(f"  event: {event['auction_event']}" + (f" ({event['bidder']})" if "bidder" in event else ""))
        state = chat.get_state(config).values
    answer, outcome = state["messages"][-1], state["auction_outcome"]
    print(f"Answer from {answer.name}: {answer.content.splitlines()[0] if answer.content else ''}")
    print(f"Outcome: {outcome['status']}, winner {outcome['winner']}, ${outcome['total_cost_usd']:.6f} in all")
    print(f"Host keys: {sorted(state)}")


if __name__ == "__main__":
    main()
