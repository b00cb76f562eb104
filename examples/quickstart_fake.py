"""Quickstart: one auction between three bidders, printed as a readable account.

Runs on the scripted fake pool (`langgraph_sale.testing.fake_pool`): no model server, no API key. The same
auction on three real local models is `examples/quickstart.py` (`make demo`).

    python examples/quickstart_fake.py
"""

from __future__ import annotations

from langgraph_sale import create_auction
from langgraph_sale.executor import default_executor, execution_input, read_execution
from langgraph_sale.report import format_auction
from langgraph_sale.testing import fake_pool

TASK = "Write a Python function that removes duplicates from a list of integers and returns it sorted."


def main() -> None:
    pool = fake_pool()
    print("Pool: fake scripted models (no real model runs in this quickstart):")
    for bidder in pool:
        print(f"  {bidder.name:<6} ${bidder.price_per_mtok}/Mtok  {bidder.description}")
    app = create_auction(pool).compile(name="auction")
    state = app.invoke({"auction_task": TASK})

    # The baseline: the largest bidder executing the task alone, measured the same way.
    largest = max(pool, key=lambda b: b.price_per_mtok)
    sent = execution_input(TASK, "", guided=False)
    alone = read_execution(sent, default_executor(largest).invoke(sent), largest, 0.0)
    print()
    print(format_auction(state, baseline_cost_usd=alone["usage"]["cost_usd"], baseline_name=f"{largest.name} alone"))


if __name__ == "__main__":
    main()
