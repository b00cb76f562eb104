"""Escalation (`create_auction(escalate=Escalate(check))`): a rejected answer goes up the price ladder."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage

from langgraph_sale import AuctionWeights, CostValueScorer, Escalate, create_auction
from langgraph_sale.agents import passes_examples
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.escalation import next_bidder
from tests.support import PLANS, PRICES, TASK, answer_of, execute_prompts, models_of, run, scripted_pool

PRICE_ONLY = CostValueScorer(AuctionWeights(w_entropy=0.0))
"""With `jury=False`, the score is price x plan length: tiny wins, then the ladder is small, large."""


class Check:
    """A check that keeps the answers of the bidders in `passing`, and remembers what it was asked."""

    def __init__(self, *passing: str) -> None:
        self.passing, self.asked = set(passing), []  # type: ignore[var-annotated]

    def __call__(self, task: str, answer: str) -> bool:
        self.asked.append(answer)
        return any(answer == answer_of(name) for name in self.passing)


def answers_in(result: dict[str, Any]) -> list[str]:
    return [str(m.content) for m in result["messages"] if isinstance(m, AIMessage)]


async def test_a_rejected_answer_goes_to_the_dearer_bidder_and_both_runs_are_paid(mode: str) -> None:
    pool, check = scripted_pool(), Check("large")
    result = await run(create_auction(pool, escalate=Escalate(check)).compile(), {"auction_task": TASK}, mode)
    outcome = result["auction_outcome"]
    assert (outcome["winner"], outcome["executed_by"], outcome["escalated_from"]) == ("small", "large", ["small"])
    assert outcome["status"] == "executed" and outcome["answer"] == answer_of("large")
    assert check.asked == [answer_of("small")]  # large is the last rung: its answer is not checked
    assert outcome["checked"] is None
    assert answers_in(result) == [answer_of("large")]  # the rejected answer left `messages`
    # Both executions are paid for, in the execute phase of the ledger.
    assert all(models_of(pool)[name].count("execute") == 1 for name in ("small", "large"))
    execute = outcome["usage_by_phase"]["execute"]
    single = (await run(create_auction(scripted_pool()).compile(), {"auction_task": TASK}, mode))["auction_outcome"]
    assert execute["calls"] == 2 and single["usage_by_phase"]["execute"]["calls"] == 1
    assert execute["cost_usd"] > single["usage_by_phase"]["execute"]["cost_usd"] > 0
    assert outcome["total_cost_usd"] == pytest.approx(sum(outcome["cost_usd_by_phase"].values()))


async def test_the_task_goes_up_the_ladder_one_rung_at_a_time_guided_by_each_plan(mode: str) -> None:
    pool, check = scripted_pool(), Check()  # nobody passes
    app = create_auction(pool, jury=False, scorer=PRICE_ONLY, escalate=Escalate(check)).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    assert (outcome["winner"], outcome["escalated_from"], outcome["executed_by"]) == ("tiny", ["tiny", "small"],
                                                                                      "large")
    assert check.asked == [answer_of("tiny"), answer_of("small")]
    models = models_of(pool)
    # Each bidder the task was handed to follows its own plan.
    for name in ("small", "large"):
        (prompt,) = execute_prompts(models[name])
        assert any(PLANS[name] in str(message.content) for message in prompt)
    assert outcome["usage_by_phase"]["execute"]["calls"] == 3


async def test_max_handoffs_and_an_accepted_answer_stop_the_ladder(mode: str) -> None:
    pool, check = scripted_pool(), Check()
    app = create_auction(pool, jury=False, scorer=PRICE_ONLY, escalate=Escalate(check, max_handoffs=1)).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    assert outcome["escalated_from"] == ["tiny"] and outcome["executed_by"] == "small" and outcome["checked"] is None
    assert models_of(pool)["large"].count("execute") == 0
    pool, check = scripted_pool(), Check("small")
    app = create_auction(pool, jury=False, scorer=PRICE_ONLY, escalate=Escalate(check)).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    assert outcome["escalated_from"] == ["tiny"] and outcome["executed_by"] == "small" and outcome["checked"] is True
    assert models_of(pool)["large"].count("execute") == 0


async def test_a_failed_execution_is_handed_on_without_asking_the_check(mode: str) -> None:
    pool, check = scripted_pool(small={"fail": {"execute": -1}}), Check()
    app = create_auction(pool, escalate=Escalate(check), execute_timeout=30).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    assert outcome["winner"] == "small" and outcome["executed_by"] == "large" and outcome["escalated_from"] == ["small"]
    assert outcome["status"] == "executed" and outcome["execution_error"] is None and check.asked == []


async def test_a_check_that_raises_keeps_the_answer_and_says_why(mode: str) -> None:
    def broken(task: str, answer: str) -> bool:
        raise RuntimeError("the sandbox is gone")

    pool = scripted_pool()
    outcome = (await run(create_auction(pool, escalate=Escalate(broken)).compile(), {"auction_task": TASK},
                         mode))["auction_outcome"]
    assert outcome["executed_by"] == "small" and outcome["escalated_from"] == []
    assert outcome["check_error"] == "RuntimeError: the sandbox is gone" and outcome["checked"] is None
    assert models_of(pool)["large"].count("execute") == 0


async def test_an_async_check_is_awaited(mode: str) -> None:
    async def check(task: str, answer: str) -> bool:
        await asyncio.sleep(0)
        return answer == answer_of("small")

    outcome = (await run(create_auction(scripted_pool(), escalate=Escalate(check)).compile(),
                         {"auction_task": TASK}, mode))["auction_outcome"]
    assert outcome["executed_by"] == "small" and outcome["checked"] is True


async def test_a_bidder_whose_execution_would_not_fit_the_budget_is_not_handed_the_task(mode: str) -> None:
    pool, check = scripted_pool(), Check()
    budget = PRICES["large"] * 2_000 / 1e6 * 0.95  # large's expected execution never fits; small's does
    app = create_auction(pool, escalate=Escalate(check)).compile()
    if mode == "sync":
        result = app.invoke({"auction_task": TASK}, context={"budget_usd": budget})
    else:
        result = await app.ainvoke({"auction_task": TASK}, context={"budget_usd": budget})
    outcome = result["auction_outcome"]
    assert outcome["executed_by"] == "small" and outcome["escalated_from"] == [] and check.asked == []


def test_without_escalate_the_outcome_says_who_ran_and_nothing_else() -> None:
    outcome = create_auction(scripted_pool()).compile().invoke({"auction_task": TASK})["auction_outcome"]
    assert outcome["executed_by"] == "small" and outcome["escalated_from"] == [] and outcome["checked"] is None


@pytest.mark.parametrize(("fields", "named"), [
    ({"escalate": "yes"}, "escalate"),
    ({"escalate": Escalate(lambda t, a: True), "route": "decide"}, "escalate"),
])
def test_bad_escalation_options_are_named(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(AuctionConfigError, match=f"^{named}:"):
        create_auction(scripted_pool(), **fields)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bad_max_handoffs_is_named(bad: Any) -> None:
    with pytest.raises(AuctionConfigError, match="^escalate.max_handoffs:"):
        Escalate(lambda t, a: True, max_handoffs=bad)


@given(prices=st.lists(st.floats(0.01, 10.0), min_size=2, max_size=6, unique=True), data=st.data())
def test_the_next_bidder_is_dearer_unrun_and_fits(prices: list[float], data: st.DataObject) -> None:
    names = [f"b{i}" for i in range(len(prices))]
    price = dict(zip(names, prices, strict=True))
    ran = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    scores = {name: {"score": data.draw(st.floats(-2, 2))} for name in data.draw(st.sets(st.sampled_from(names)))}
    excluded = data.draw(st.sets(st.sampled_from(names)))
    chosen = next_bidder(ran, price, names, scores, fits=lambda name: name not in excluded)
    eligible = [n for n in names if price[n] > price[ran[-1]] and n not in ran and n not in excluded]
    if not eligible:
        assert chosen is None
        return
    assert chosen in eligible
    scored = [n for n in eligible if n in scores]
    if scored:  # a scored bid comes first, the best score among them
        assert chosen in scored and scores[chosen]["score"] == min(scores[n]["score"] for n in scored)
    else:
        assert price[chosen] == min(price[n] for n in eligible)


def test_passes_examples_runs_the_shown_examples() -> None:
    check = passes_examples()
    task = 'def add(a, b):\n    """Add.\n    >>> add(1, 2)\n    3\n    """\n'
    assert check(task, "```python\ndef add(a, b):\n    return a + b\n```") is True
    assert check(task, "```python\ndef add(a, b):\n    return a * b\n```") is False
