"""Per model of the local pool: decode speed here, bid length, plan entropy, and how each juror agrees with the rest.

Runs decide-only auctions (bids and the full jury, no execution) of the three local models on a few coding tasks,
one model call at a time (the pool's `CallLimiter(1)`), and prints one table row per model:

- tokens/s: output tokens of its bids over the bid calls' time (queueing excluded), prompt processing included;
- bid tokens: mean output tokens of a bid (the cap is `--max-bid-tokens`);
- entropy: mean plan entropy in nats (top-5 logprobs, renormalised);
- jury: as a juror, the mean and spread of its scores, and its agreement with the other two jurors: the share of
  plans where it gives the same score as their rounded mean, and the correlation with that mean (n/a for a juror
  that always answers the same);
- and, for the auctions, the wall time of the bid round and of the jury round.

    .venv/bin/python benchmarks/bench_models.py [--tasks 6] [--max-bid-tokens 96]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from langgraph_sale import create_auction
from langgraph_sale.local import MODELS, LocalServer, ensure_pool, local_bidders

TASKS = [
    "Write a Python function `is_palindrome(s: str) -> bool` that ignores case and non-alphanumeric characters.",
    "Write a Python function `flatten(xs)` that flattens arbitrarily nested lists of integers into one list.",
    "Write a Python function `roman_to_int(s: str) -> int` that converts a Roman numeral to an integer.",
    "Write a Python function `merge_intervals(intervals)` that merges overlapping [start, end] intervals.",
    "Write a Python function `word_counts(text: str) -> dict[str, int]` counting words case-insensitively.",
    "Write a Python function `is_prime(n: int) -> bool` that is fast for n up to 10**9.",
    "Write a Python function `rotate(matrix)` that rotates a square matrix 90 degrees clockwise in place.",
    "Write a Python function `parse_duration(s: str) -> int` turning strings like '1h30m15s' into seconds.",
]


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3 or statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
        return None
    return statistics.correlation(xs, ys)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=6, help=f"coding tasks to run (at most {len(TASKS)})")
    parser.add_argument("--max-bid-tokens", type=int, default=96)
    args = parser.parse_args(argv)
    tasks = TASKS[: max(1, min(args.tasks, len(TASKS)))]
    ensure_pool()
    bids: list[dict[str, Any]] = []
    jury: list[dict[str, Any]] = []
    rounds: list[tuple[float, float]] = []
    started = time.perf_counter()
    with LocalServer() as server:
        pool = local_bidders(server.openai_url)
        # A checkpointer, so the auction's own clock (a key it keeps inside) can be read after each run.
        auction = create_auction(pool, route="decide", max_bid_tokens=args.max_bid_tokens, bid_timeout=900,
                                 jury_scoring="logprobs").compile(checkpointer=InMemorySaver())
        for number, task in enumerate(tasks, start=1):
            config = {"configurable": {"thread_id": f"task-{number}"}}
            outcome = auction.invoke({"auction_task": task}, config)["auction_outcome"]
            clock = auction.get_state(config).values["auction_clock"]
            rounds.append((clock["bids_done"] - clock["opened"], clock["decided"] - clock["bids_done"]))
            bids += [b for b in outcome["bids"] if b.get("error") is None]
            jury += [j for j in outcome["jury"] if j.get("score") is not None]
            print(f"  task {number}/{len(tasks)}: bids {rounds[-1][0]:.0f} s, jury {rounds[-1][1]:.0f} s",
                  file=sys.stderr, flush=True)
    total_s = time.perf_counter() - started

    by_bid: dict[str, dict[str, float]] = {}
    for judgment in jury:
        by_bid.setdefault(judgment["bid_id"], {})[judgment["juror"]] = float(judgment["integer_score"])
    command = f"cd {os.getcwd()} && " + shlex.join([os.path.relpath(sys.executable), *sys.argv])
    print("## The local pool, per model\n")
    print(f"Command: `{command}`  ")
    print(f"{len(tasks)} coding tasks, decide-only auctions (3 bids + 9 jury calls each, one call at a time), "
          f"bids capped at {args.max_bid_tokens} tokens; {total_s:.0f} s in all, "
          f"load average {os.getloadavg()[0]:.1f} at the end.\n")
    print("| model | price $/Mtok | tokens/s (bids) | bid tokens | plan entropy (nats) | as juror: mean score "
          "(sd) | same as the other two | correlation with the other two |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for model in MODELS:
        own = [b for b in bids if b["bidder"] == model.bidder]
        seconds = sum(b["latency_s"] for b in own)
        speed = sum(b["usage"]["output_tokens"] for b in own) / seconds if seconds else 0.0
        tokens = statistics.fmean(b["plan_tokens"] for b in own) if own else 0.0
        entropies = [b["entropy"] for b in own if b.get("entropy") is not None]
        entropy = f"{statistics.fmean(entropies):.2f}" if entropies else "-"
        mine, others = [], []
        for scores in by_bid.values():
            rest = [score for juror, score in scores.items() if juror != model.bidder]
            if model.bidder in scores and rest:
                mine.append(scores[model.bidder])
                others.append(statistics.fmean(rest))
        same = sum(1 for a, b in zip(mine, others, strict=True) if a == round(b)) / len(mine) if mine else 0.0
        corr = _pearson(mine, others)
        spread = f"{statistics.fmean(mine):.2f} ({statistics.pstdev(mine):.2f})" if mine else "-"
        print(f"| {model.id} | {model.price_per_mtok} | {speed:.1f} | {tokens:.0f} | {entropy} | {spread} "
              f"| {same:.0%} | {'n/a' if corr is None else f'{corr:.2f}'} |")
    bid_s = statistics.fmean(r[0] for r in rounds)
    jury_s = statistics.fmean(r[1] for r in rounds)
    print(f"\nPer auction: bid round {bid_s:.1f} s, jury round (9 calls) {jury_s:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
