"""Per-task budgets (who may bid, who may win, the auction's own spending counted) and the approval step."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from langgraph_sale import create_auction
from langgraph_sale.errors import AuctionInputError
from tests.support import PRICES, TASK, answer_of, models_of, scripted_pool

TOKENS = 2_000  # create_auction's default expected execution tokens without memory


def expected(name: str) -> float:
    return PRICES[name] * TOKENS / 1e6


async def invoke(app: Any, value: Any, mode: str, **kwargs: Any) -> dict[str, Any]:
    if mode == "sync":
        return app.invoke(value, **kwargs)  # type: ignore[no-any-return]
    return await app.ainvoke(value, **kwargs)  # type: ignore[no-any-return]


async def test_a_bidder_whose_execution_cannot_fit_is_not_asked(mode: str) -> None:
    pool = scripted_pool()
    budget = expected("large") * 0.95  # large's execution alone does not fit; small's does, with room for the auction
    app = create_auction(pool).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "budget"}}
    result = await invoke(app, {"auction_task": TASK}, mode, config=config, context={"budget_usd": budget})
    models = models_of(pool)
    assert models["large"].count("bid") == 0 and models["small"].count("bid") == 1
    outcome = result["auction_outcome"]
    assert {b["bidder"] for b in outcome["bids"]} == {"tiny", "small"}
    assert outcome["status"] == "executed" and outcome["winner"] == "small" and outcome["budget_usd"] == budget
    state = app.get_state(config).values  # each bidder's expected execution cost stays inside the auction
    assert state["auction_budget"]["expected_execute_usd"]["large"] == pytest.approx(expected("large"))


async def test_the_auction_own_calls_count_against_the_budget(mode: str) -> None:
    # Only tiny's execution fits before bidding, and only just: once its bid and the jury are paid, it no longer
    # does, so nobody runs and the outcome says why.
    pool = scripted_pool()
    budget = expected("tiny") * 1.0001
    result = await invoke(create_auction(pool).compile(), {"auction_task": TASK}, mode,
                          context={"budget_usd": budget})
    outcome = result["auction_outcome"]
    assert outcome["status"] == "over_budget" and outcome["winner"] is None
    assert outcome["reason"].startswith("over_budget")
    assert all(model.count("execute") == 0 for model in models_of(pool).values())
    assert outcome["total_cost_usd"] > 0  # what the bids and the jury cost stays on record


async def test_budget_from_configurable_and_without_a_budget(mode: str) -> None:
    pool = scripted_pool()
    app = create_auction(pool).compile()
    result = await invoke(app, {"auction_task": TASK}, mode, config={"configurable": {"cap": 1.0}})
    assert result["auction_outcome"]["budget_usd"] is None  # the default key is budget_usd
    app = create_auction(scripted_pool(), budget_key="cap").compile()
    result = await invoke(app, {"auction_task": TASK}, mode, config={"configurable": {"cap": 1.0}})
    assert result["auction_outcome"]["budget_usd"] == 1.0 and result["auction_winner"] == "small"


@pytest.mark.parametrize("bad", [-1.0, "ten", float("nan"), True])
async def test_a_bad_budget_is_named(bad: Any, mode: str) -> None:
    app = create_auction(scripted_pool()).compile()
    with pytest.raises(AuctionInputError, match="budget_usd"):
        await invoke(app, {"auction_task": TASK}, mode, context={"budget_usd": bad})


def _approval_app(pool: list[Any]) -> Any:
    return create_auction(pool, approve=True).compile(checkpointer=InMemorySaver())


async def test_approval_pauses_before_execution_and_accepting_runs_the_winner(mode: str) -> None:
    pool = scripted_pool()
    app = _approval_app(pool)
    config = {"configurable": {"thread_id": "t1"}}
    paused = await invoke(app, {"auction_task": TASK}, mode, config=config)
    [request] = paused["__interrupt__"]
    assert request.value["winner"] == "small" and set(request.value["scores"]) == set(PRICES)
    assert all(model.count("execute") == 0 for model in models_of(pool).values())
    result = await invoke(app, Command(resume=True), mode, config=config)
    assert result["messages"][-1].content == answer_of("small")
    assert result["auction_outcome"]["approved_by"] == "person"
    # Resuming did not bid or judge again.
    assert all(model.count("bid") == 1 for model in models_of(pool).values())


async def test_a_person_can_override_or_reject(mode: str) -> None:
    pool = scripted_pool()
    app = _approval_app(pool)
    config = {"configurable": {"thread_id": "override"}}
    await invoke(app, {"auction_task": TASK}, mode, config=config)
    result = await invoke(app, Command(resume={"winner": "large"}), mode, config=config)
    assert result["messages"][-1].content == answer_of("large")
    assert result["auction_outcome"]["reason"].startswith("override")
    assert result["auction_plan"].startswith("1. Study the spec")

    app = _approval_app(scripted_pool())
    config = {"configurable": {"thread_id": "reject"}}
    await invoke(app, {"auction_task": TASK}, mode, config=config)
    result = await invoke(app, Command(resume=False), mode, config=config)
    assert result["auction_outcome"]["status"] == "rejected" and result["auction_winner"] is None


async def test_a_bad_resume_value_is_named(mode: str) -> None:
    app = _approval_app(scripted_pool())
    config = {"configurable": {"thread_id": "bad"}}
    await invoke(app, {"auction_task": TASK}, mode, config=config)
    with pytest.raises(AuctionInputError, match="resume.winner"):
        await invoke(app, Command(resume={"winner": "nobody"}), mode, config=config)


def test_a_budget_expects_what_a_bidders_own_executions_cost_where_memory_has_them() -> None:
    from langgraph_sale.budget import expected_execution_usd
    from langgraph_sale.memory import AuctionRecord

    # Billed at input, cached-input and output prices, the small bidder's executions cost 3e-4 on average, far
    # from its output price times their tokens (0.1 * 1000 / 1e6 = 1e-4); the large one has none of its own.
    records = [AuctionRecord(auction_id=f"a{i}", task="t", winner="small", execute_tokens=1000,
                             execute_cost_usd=cost) for i, cost in enumerate((2e-4, 4e-4))]
    expected = expected_execution_usd({"small": 0.1, "large": 1.0}, records, default_tokens=5000)
    assert expected["small"] == pytest.approx(3e-4)
    assert expected["large"] == pytest.approx(1.0 * 1000 / 1e6)
