"""Skipping the auction where memory says it cannot pay for itself (`SkipAuction`)."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.memory import InMemoryStore

from langgraph_sale import AuctionConfigError, AuctionMemory, SkipAuction, create_auction
from langgraph_sale.memory import AuctionRecord, MemoryBid
from langgraph_sale.skipping import skip_choice
from langgraph_sale.testing import fake_pool

TASK = "Deduplicate and sort a list of integers."
PRICES = {"tiny": 0.05, "small": 0.1, "large": 0.9}
ORDER = list(PRICES)


def record(number: int, winner: str, *, overhead: float = 3.0, execution: float = 1.0, held: bool = True,
           success: bool | None = None) -> AuctionRecord:
    return AuctionRecord(auction_id=f"a{number}", task=f"task {number}", winner=winner,
                         bids=[MemoryBid(bidder=winner, plan="1. Plan.")] if held else [],
                         cost_usd=overhead + execution, execute_cost_usd=execution,
                         success=success, success_known=success is not None)


def test_no_skip_below_the_recalled_count_or_the_overhead_ratio() -> None:
    rule = SkipAuction(min_recalled=3)
    assert skip_choice([record(i, "small") for i in range(2)], PRICES, ORDER, rule) is None
    assert skip_choice([record(i, "small", overhead=0.5) for i in range(5)], PRICES, ORDER, rule) is None
    choice = skip_choice([record(i, "small", overhead=0.5) for i in range(5)], PRICES, ORDER,
                         SkipAuction(overhead_ratio=0.4))
    assert choice is not None and choice.winner == "small" and choice.reason.startswith("skipped")


def test_skipped_records_do_not_count_as_held_auctions() -> None:
    # Two held auctions and many skipped ones: still too few held ones to judge the overhead.
    records = [record(0, "small"), record(1, "small"), *[record(i, "small", held=False, overhead=0.0)
                                                          for i in range(2, 9)]]
    assert skip_choice(records, PRICES, ORDER, SkipAuction(min_recalled=3)) is None


def test_without_outcomes_the_most_frequent_winner_runs_the_cheaper_on_a_tie() -> None:
    records = [record(0, "large"), record(1, "small"), record(2, "large"), record(3, "small")]
    choice = skip_choice(records, PRICES, ORDER, SkipAuction())
    assert choice is not None and choice.winner == "small" and "won 2 of 4" in choice.reason


def test_with_outcomes_the_best_smoothed_success_rate_runs() -> None:
    # tiny won twice and failed both; large won three times and passed: large runs, though tiny won cheaper.
    records = [record(0, "tiny", success=False), record(1, "tiny", success=False),
               *[record(i, "large", success=True) for i in range(2, 5)]]
    choice = skip_choice(records, PRICES, ORDER, SkipAuction())
    assert choice is not None and choice.winner == "large" and "success rate 0.80" in choice.reason


def test_skip_needs_memory_and_a_rule() -> None:
    with pytest.raises(AuctionConfigError) as raised:
        create_auction(fake_pool(), skip=SkipAuction())
    assert raised.value.field == "skip"
    with pytest.raises(AuctionConfigError):
        create_auction(fake_pool(), memory=AuctionMemory(), skip=0.5)  # type: ignore[arg-type]
    # A rule that waits for more held auctions than memory recalls would never fire: refused, not silently idle.
    with pytest.raises(AuctionConfigError, match="min_recalled=3 is more than the 2 auctions memory recalls"):
        create_auction(fake_pool(), memory=AuctionMemory(k=2), skip=SkipAuction())
    create_auction(fake_pool(), memory=AuctionMemory(k=2), skip=SkipAuction(min_recalled=2))


async def run(app: Any, mode: str, task: str = TASK) -> dict[str, Any]:
    if mode == "sync":
        return app.invoke({"auction_task": task})  # type: ignore[no-any-return]
    return await app.ainvoke({"auction_task": task})  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_auction_is_skipped_once_memory_shows_it_costs_more_than_it_saves(mode: str) -> None:
    store = InMemoryStore()
    pool = fake_pool()
    app = create_auction(pool, memory=AuctionMemory(), skip=SkipAuction(min_recalled=2)).compile(store=store)
    held = [await run(app, mode) for _ in range(2)]
    assert all(not r["auction_outcome"]["skipped"] and r["auction_outcome"]["bids"] for r in held)
    # The fake pool's auction costs more than its execution: the third run skips it.
    outcome = held[0]["auction_outcome"]
    assert outcome["cost_usd_by_phase"]["execute"] < outcome["total_cost_usd"] / 2
    calls_before = {b.name: len(b.model.calls) for b in pool}  # type: ignore[attr-defined]
    skipped = await run(app, mode)
    result = skipped["auction_outcome"]
    assert result["skipped"] and result["status"] == "executed" and result["winner"] == "small"
    assert result["bids"] == [] and result["jury"] == [] and result["plan"] == ""
    assert set(result["tokens_by_phase"]) == {"execute"}
    # Only the winner's execution called a model, and the skipped run is remembered without bids.
    calls_after = {b.name: len(b.model.calls) for b in pool}  # type: ignore[attr-defined]
    assert {n for n in calls_after if calls_after[n] != calls_before[n]} == {"small"}
    items = store.search(("langgraph_sale", "auctions", "shared"), limit=10)
    assert len(items) == 3 and sum(not item.value["bids"] for item in items) == 1


async def test_a_skip_that_breaks_the_budget_holds_the_auction() -> None:
    store = InMemoryStore()
    app = create_auction(fake_pool(), memory=AuctionMemory(), skip=SkipAuction(min_recalled=1)).compile(
        store=store)
    app.invoke({"auction_task": TASK})
    tiny_budget = app.invoke({"auction_task": TASK}, context={"budget_usd": 1e-12})
    assert not tiny_budget["auction_outcome"]["skipped"]
    assert tiny_budget["auction_outcome"]["status"] == "over_budget"
