"""Auction memory over a stream of tasks: cheaper bidders learn from past auctions and outbid the leader.

One graph, compiled with an `InMemoryStore` that has a vector index, runs a short stream of similar tasks with
`AuctionMemory`. Every auction is written to the store. From the second task on, bidders strictly cheaper than the
provisional winner recall the most similar past auctions as (losing plan, winning plan) pairs and rewrite their
bids (the outbid round); a rewritten bid takes the win only with a strictly lower score. The outcome says so in
`outbid`, `outbid_by` and `recalled`.

The scripted `small` model rewrites its plan from what the recalled winning plan did (it ran checks); `tiny`
rewrites too but stays vague. The embedder is `HashingEmbeddings` (bag of words, no model download).

    python examples/memory_stream.py            # scripted fakes (about a second)
    python examples/memory_stream.py --local    # the three real local models (slow: 3 auctions, minutes each)
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from langgraph.store.memory import InMemoryStore

from langgraph_sale import AuctionMemory, Bidder, create_auction
from langgraph_sale.local import local_pool
from langgraph_sale.report import format_auction
from langgraph_sale.testing import HashingEmbeddings, ScriptedChatModel

TASKS = ["Deduplicate and sort a list of integers.", "Deduplicate and sort a list of strings, ignoring case.",
         "Sort a list of integers in descending order and drop duplicates."]


def learner(prompt: str) -> str:
    """A fake rewrite: copy the idea of the recalled winning plan (it mentions tested checks), else stay put."""
    if "tested" in prompt:
        return "The winners ran tested checks.\nRevised plan:\n1. Write it. 2. Run tested checks on edge cases."
    return "Revised plan:\n1. Write it. 2. Done, a vague plan."


def scripted_pool() -> list[Bidder]:
    jury = {"vague": 1, "tested": 5}
    spec = {"tiny": (0.02, "1. Guess. 2. Done, a vague plan.", lambda _: "Revised plan:\n1. Guess again, vague."),
            "small": (0.06, "1. Write it. 2. Done, a vague plan.", learner),
            "large": (0.54, "1. Write it. 2. Run the tested checks. 3. Review.", None)}
    return [Bidder(name, ScriptedChatModel(plans=[plan], refinements=rewrite, jury=jury, answers=[f"done by {name}"]),
                   price) for name, (price, plan, rewrite) in spec.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="run on the real local pool")
    args = parser.parse_args()
    store = InMemoryStore(index={"dims": 256, "embed": HashingEmbeddings(256)})
    memory = AuctionMemory(k=4)
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(local_pool()) if args.local else scripted_pool()
        app = create_auction(pool, memory=memory, max_bid_tokens=150 if args.local else 256).compile(store=store)
        state: dict[str, Any] = {}
        for number, task in enumerate(TASKS, start=1):
            state = app.invoke({"auction_task": task})
            outcome = state["auction_outcome"]
            print(f"#{number} {task}\n   provisional {outcome['provisional_winner']} -> winner {outcome['winner']}  "
                  f"outbid={outcome['outbid']} outbid_by={outcome['outbid_by']} recalled={outcome['recalled']}  "
                  f"cost ${outcome['total_cost_usd']:.6f}", flush=True)
            for bid in outcome["bids"]:
                if bid["phase"] == "refine":
                    print(f"   rewritten by {bid['bidder']:<6} (score {bid['breakdown']['score']:+.3f}): {bid['plan']}")
    print(f"\nMemory now holds {len(store.search(memory.namespace_for(None), limit=100))} auctions.")
    print("\nThe last auction in full:\n")
    print(format_auction(state))


if __name__ == "__main__":
    main()
