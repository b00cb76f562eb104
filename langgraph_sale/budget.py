"""A per-task budget: bidders whose expected execution cost does not fit are left out, and the auction's own
spending (bids, jury, rewrites) counts against it.

The budget comes from the run context (or `config["configurable"]`) under `budget_key` ("budget_usd" by default),
so each task can carry its own. A bidder's expected execution cost is its price times the execution tokens it is
expected to use: the mean of what executions of similar recalled auctions used (its own where it won them, else
any winner's), or `expected_execution_tokens` when memory has nothing to say.

- Before bidding, a bidder whose expected execution alone exceeds the budget does not bid: its bid would be paid
  for and could never win.
- After the bids and the jury are paid, only bidders whose expected execution fits what is left may win; the same
  holds after an outbid round. When none fits, nobody runs and the outcome says `over_budget`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_sale.errors import AuctionInputError
from langgraph_sale.memory import AuctionRecord
from langgraph_sale.state import run_setting

__all__ = ["Budget", "budget_of", "expected_execution_usd", "DEFAULT_EXPECTED_EXECUTION_TOKENS"]

DEFAULT_EXPECTED_EXECUTION_TOKENS = 2_000
"""Execution tokens assumed for a bidder when memory holds no similar auction."""


@dataclass(frozen=True)
class Budget:
    """One task's budget and the expected execution cost of each bidder.

    Examples:
        >>> budget = Budget(1e-4, {"small": 2e-5, "large": 2e-4})
        >>> budget.fits("small", spent=5e-5), budget.fits("large", spent=0.0)
        (True, False)
    """

    budget_usd: float
    expected_execute_usd: dict[str, float] = field(default_factory=dict)

    def fits(self, bidder: str, *, spent: float) -> bool:
        """Whether the bidder's expected execution fits in what is left after `spent`."""
        return self.expected_execute_usd.get(bidder, 0.0) <= self.budget_usd - spent

    def to_state(self) -> dict[str, Any]:
        return {"budget_usd": self.budget_usd, "expected_execute_usd": dict(self.expected_execute_usd)}

    @classmethod
    def from_state(cls, value: Mapping[str, Any] | None) -> Budget | None:
        if not value or value.get("budget_usd") is None:
            return None
        return cls(float(value["budget_usd"]), dict(value.get("expected_execute_usd") or {}))


def budget_of(context: Any, config: RunnableConfig | None, key: str) -> float | None:
    """The run's budget in dollars, from the context or `config["configurable"]`; None when it has none.

    Raises:
        AuctionInputError: When the budget is not a finite number >= 0, naming the key.

    Examples:
        >>> budget_of({"budget_usd": 0.01}, None, "budget_usd"), budget_of(None, None, "budget_usd")
        (0.01, None)
    """
    value = run_setting(context, config, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise AuctionInputError(key, f"the budget must be a finite number of dollars >= 0, got {value!r}")
    return float(value)


def expected_execution_usd(
    prices: Mapping[str, float], records: Sequence[AuctionRecord], *, default_tokens: int
) -> dict[str, float]:
    """Each bidder's expected execution cost: what its own executions of similar recalled auctions cost (billed at
    its input, cached-input and output prices, as they were), else its price (the output price, the dearest token
    a provider bills) times the execution tokens of the similar auctions.

    Examples:
        >>> record = AuctionRecord(auction_id="a", task="t", winner="small", execute_tokens=1000)
        >>> expected_execution_usd({"small": 1.0, "large": 10.0}, [record], default_tokens=5000)
        {'small': 0.001, 'large': 0.01}
    """
    executed = [r for r in records if r.winner and r.execute_tokens > 0]
    overall = statistics.fmean(r.execute_tokens for r in executed) if executed else float(default_tokens)
    expected: dict[str, float] = {}
    for name, price in prices.items():
        billed = [r.execute_cost_usd for r in executed if r.winner == name and r.execute_cost_usd > 0]
        if billed:
            expected[name] = statistics.fmean(billed)
            continue
        own = [r.execute_tokens for r in executed if r.winner == name]
        tokens = statistics.fmean(own) if own else overall
        expected[name] = price * tokens / 1e6
    return expected
