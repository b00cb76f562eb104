"""The auction graph end to end on scripted models: bids, jury, scoring, execution, outcome, streaming, persistence.

Every test that runs an auction runs it through `invoke` and through `ainvoke` (the `mode` fixture).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_sale import (
    AuctionInputError,
    AuctionWeights,
    CostValueScorer,
    create_auction,
)
from langgraph_sale.prompts import JURY_ASK
from tests.support import PLANS, PRICES, TASK, answer_of, execute_prompts, models_of, run, scripted_pool

# ---- bids and jury ---------------------------------------------------------------------------------------------


async def test_every_bidder_bids_once_and_every_juror_judges_every_bid(mode: str) -> None:
    pool = scripted_pool()
    models = models_of(pool)
    outcome = (await run(create_auction(pool).compile(), {"auction_task": TASK}, mode))["auction_outcome"]

    bids = outcome["bids"]
    assert sorted(bid["bidder"] for bid in bids) == sorted(PRICES)
    assert all(bid["error"] is None and bid["plan"] == PLANS[bid["bidder"]] for bid in bids)
    assert {name: model.count("bid") for name, model in models.items()} == {name: 1 for name in PRICES}

    jury = outcome["jury"]
    assert len(jury) == len(pool) ** 2
    assert {(record["juror"], record["bidder"]) for record in jury} == {(j, b) for j in PRICES for b in PRICES}
    # One request per juror over every plan (jury_batch, the default).
    assert {name: model.count("jury") for name, model in models.items()} == {name: 1 for name in PRICES}
    bid_ids = {bid["id"] for bid in bids}
    assert all(record["bid_id"] in bid_ids and record["score"] is not None for record in jury)
    assert {record["auction_id"] for record in bids + jury} == {outcome["auction_id"]}


async def test_jury_prompt_is_blind_to_the_author(mode: str) -> None:
    pool = scripted_pool()
    await run(create_auction(pool).compile(), {"auction_task": TASK}, mode)
    jury_prompts = [messages for kind, messages in models_of(pool)["large"].calls if kind == "jury"]
    assert len(jury_prompts) == 1 and all(PLANS[name] in str(jury_prompts[0][-1].content) for name in PRICES)
    pool = scripted_pool()
    await run(create_auction(pool, jury_batch=False).compile(), {"auction_task": TASK}, mode)
    jury_prompts += [messages for kind, messages in models_of(pool)["large"].calls if kind == "jury"]
    assert len(jury_prompts) == 1 + len(pool)
    for messages in jury_prompts:
        text = "\n".join(str(message.content) for message in messages)
        assert not any(name in text for name in PRICES)  # no bidder's name, so no author
        assert TASK in text


async def test_winner_answer_is_the_only_message_added_and_bids_never_reach_messages(mode: str) -> None:
    pool = scripted_pool()
    task_message = HumanMessage(TASK)
    result = await run(create_auction(pool).compile(), {"messages": [task_message]}, mode)

    assert result["auction_winner"] == "small"
    messages = result["messages"]
    assert [message.id for message in messages[:1]] == [task_message.id]
    ai_messages = [message for message in messages if isinstance(message, AIMessage)]
    assert len(messages) == 2 and len(ai_messages) == 1
    assert ai_messages[0].name == "small"
    assert ai_messages[0].content == answer_of("small")
    every_text = " ".join(str(message.content) for message in messages)
    assert not any(plan in every_text for plan in PLANS.values())


async def test_outcome_records_winner_plan_and_tokens_and_cost_by_phase(mode: str) -> None:
    pool = scripted_pool()
    app = create_auction(pool).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "outcome"}}
    result = await run(app, {"auction_task": TASK}, mode, config)
    outcome = result["auction_outcome"]
    state = app.get_state(config).values  # the winner's run and the ledger stay inside the auction

    assert outcome["status"] == "executed"
    assert outcome["winner"] == outcome["provisional_winner"] == "small"
    assert outcome["plan"] == result["auction_plan"] == PLANS["small"]
    assert outcome["answer"] == answer_of("small")
    assert outcome["task"] == TASK
    assert outcome["fallback_used"] is False and outcome["bids_failed"] == []
    assert outcome["success"] is None and outcome["usage_estimated"] is False

    bid_tokens = sum(b["usage"]["input_tokens"] + b["usage"]["output_tokens"] for b in outcome["bids"])
    jury_tokens = sum(j["usage"]["input_tokens"] + j["usage"]["output_tokens"] for j in outcome["jury"])
    execution_usage = state["auction_execution"]["usage"]
    execute_tokens = execution_usage["input_tokens"] + execution_usage["output_tokens"]
    assert outcome["tokens_by_phase"] == {"bid": bid_tokens, "jury": jury_tokens, "execute": execute_tokens}
    assert min(outcome["tokens_by_phase"].values()) > 0
    assert outcome["total_tokens"] == bid_tokens + jury_tokens + execute_tokens
    assert outcome["overhead_token_share"] == pytest.approx((bid_tokens + jury_tokens) / outcome["total_tokens"])

    costs = outcome["cost_usd_by_phase"]
    assert set(costs) == {"bid", "jury", "execute"} and min(costs.values()) > 0
    assert costs["execute"] == pytest.approx(PRICES["small"] * execute_tokens / 1e6)
    assert outcome["total_cost_usd"] == pytest.approx(sum(costs.values()))
    assert outcome["overhead_cost_share"] == pytest.approx((costs["bid"] + costs["jury"]) / outcome["total_cost_usd"])
    assert 0 < outcome["overhead_time_share"] <= 1
    assert state["auction_cost_usd"]["total"] == pytest.approx(outcome["total_cost_usd"])
    assert set(outcome["usage_by_phase"]) == {"bid", "jury", "execute"}


async def test_scores_are_cost_minus_value_and_the_lowest_wins(mode: str) -> None:
    pool = scripted_pool()
    result = await run(create_auction(pool).compile(), {"auction_task": TASK}, mode)
    scores = result["auction_outcome"]["scores"]
    assert set(scores) == set(PRICES)
    for breakdown in scores.values():
        assert breakdown["score"] == pytest.approx(breakdown["C"] - breakdown["V"])
        assert breakdown["V"] == pytest.approx(breakdown["H"] + breakdown["J"])
    assert min(scores, key=lambda name: scores[name]["score"]) == result["auction_winner"] == "small"


# ---- the evaluate callback -------------------------------------------------------------------------------------


@pytest.mark.parametrize("verdict", [True, False])
@pytest.mark.parametrize("evaluator_kind", ["sync", "async"])
async def test_evaluate_callback_sets_success(mode: str, evaluator_kind: str, verdict: bool) -> None:
    seen: list[tuple[str, str]] = []

    def evaluate_sync(task: str, answer: str) -> bool:
        seen.append((task, answer))
        return verdict

    async def evaluate_async(task: str, answer: str) -> bool:
        seen.append((task, answer))
        return verdict

    evaluate = evaluate_sync if evaluator_kind == "sync" else evaluate_async
    app = create_auction(scripted_pool(), evaluate=evaluate).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    assert seen == [(TASK, answer_of("small"))]
    assert outcome["success"] is verdict
    assert outcome["evaluation_error"] is None


@pytest.mark.parametrize("evaluator_kind", ["sync", "async"])
async def test_evaluator_that_raises_is_recorded_not_fatal(mode: str, evaluator_kind: str) -> None:
    def evaluate_sync(task: str, answer: str) -> bool:
        raise RuntimeError("grader offline")

    async def evaluate_async(task: str, answer: str) -> bool:
        raise RuntimeError("grader offline")

    evaluate = evaluate_sync if evaluator_kind == "sync" else evaluate_async
    result = await run(create_auction(scripted_pool(), evaluate=evaluate).compile(), {"auction_task": TASK}, mode)
    outcome = result["auction_outcome"]
    assert outcome["status"] == "executed"
    assert outcome["success"] is None
    assert "RuntimeError" in outcome["evaluation_error"] and "grader offline" in outcome["evaluation_error"]
    assert result["messages"][-1].content == answer_of("small")


# ---- streaming -------------------------------------------------------------------------------------------------


def events_in(chunks: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [payload for stream_mode, payload in chunks if stream_mode == "custom"]


def assert_events_follow_the_phases(events: list[dict[str, Any]], pool_size: int) -> None:
    names = [event["auction_event"] for event in events]
    counts = Counter(names)
    assert counts == {"auction_opened": 1, "bid_submitted": pool_size, "jury_scored": pool_size**2,
                      "bid_scored": pool_size, "winner": 1, "executed": 1, "outcome": 1}
    assert names[0] == "auction_opened" and names[-1] == "outcome"

    def first(name: str) -> int:
        return names.index(name)

    def last(name: str) -> int:
        return len(names) - 1 - names[::-1].index(name)

    assert last("bid_submitted") < first("jury_scored")
    assert last("jury_scored") < first("bid_scored")
    assert last("bid_scored") < first("winner") < first("executed") < first("outcome")
    assert len({event["auction_id"] for event in events}) == 1
    winner_event = events[first("winner")]
    assert winner_event["winner"] == "small"
    assert events[-1]["status"] == "executed" and events[-1]["winner"] == "small"


def test_stream_yields_auction_events_beside_node_updates() -> None:
    pool = scripted_pool()
    app = create_auction(pool).compile()
    chunks = list(app.stream({"auction_task": TASK}, stream_mode=["updates", "custom"]))
    assert_events_follow_the_phases(events_in(chunks), len(pool))
    updated_nodes = {node for stream_mode, update in chunks if stream_mode == "updates" for node in update}
    assert {"open_auction", "bid", "collect_bids", "judge", "score", "execute_small", "record_outcome"} <= updated_nodes


async def test_astream_yields_the_same_auction_events() -> None:
    pool = scripted_pool()
    app = create_auction(pool).compile()
    chunks = [chunk async for chunk in app.astream({"auction_task": TASK}, stream_mode=["updates", "custom"])]
    assert_events_follow_the_phases(events_in(chunks), len(pool))


def test_stream_reports_a_failed_bid() -> None:
    pool = scripted_pool(large={"fail": {"bid": -1}})
    app = create_auction(pool, bid_retry=None).compile()
    events = events_in(list(app.stream({"auction_task": TASK}, stream_mode=["updates", "custom"])))
    failed = [event for event in events if event["auction_event"] == "bid_failed"]
    submitted = [event for event in events if event["auction_event"] == "bid_submitted"]
    assert [event["bidder"] for event in failed] == ["large"]
    assert "ScriptedFailure" in failed[0]["error"]
    assert sorted(event["bidder"] for event in submitted) == ["small", "tiny"]
    assert events[-1]["auction_event"] == "outcome" and events[-1]["bids_failed"] == ["large"]


# ---- jury options ----------------------------------------------------------------------------------------------


async def test_no_jury_makes_no_jury_calls_and_the_jury_term_is_zero(mode: str) -> None:
    pool = scripted_pool()
    result = await run(create_auction(pool, jury=False).compile(), {"auction_task": TASK}, mode)
    outcome = result["auction_outcome"]
    assert all(model.count("jury") == 0 for model in models_of(pool).values())
    assert outcome["jury"] == []
    assert all(breakdown["J"] == 0 and breakdown["jury"] == {} for breakdown in outcome["scores"].values())
    # Same entropy everywhere and no jury: only cost is left, and the cheapest, shortest plan wins.
    assert result["auction_winner"] == "tiny"


async def test_sampled_jury_judges_each_bid_with_two_jurors_including_its_author(mode: str) -> None:
    pool = scripted_pool()
    outcome = (await run(create_auction(pool, jury=2).compile(), {"auction_task": TASK}, mode))["auction_outcome"]
    jurors_by_bidder: dict[str, list[str]] = {}
    for record in outcome["jury"]:
        jurors_by_bidder.setdefault(record["bidder"], []).append(record["juror"])
    assert set(jurors_by_bidder) == set(PRICES)
    for bidder, jurors in jurors_by_bidder.items():
        assert len(jurors) == len(set(jurors)) == 2
        assert bidder in jurors
    # Each juror asked once, over the bids whose panel it sits on.
    assert sum(model.count("jury") for model in models_of(pool).values()) == len(pool)
    for name, breakdown in outcome["scores"].items():
        assert set(breakdown["jury"]) == set(jurors_by_bidder[name])


async def test_zero_weight_juror_still_bids_but_is_never_asked_to_judge(mode: str) -> None:
    pool = scripted_pool()
    models = models_of(pool)
    scorer = CostValueScorer(AuctionWeights(w_jury={"tiny": 0.0}))
    app = create_auction(pool, scorer=scorer).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    assert models["tiny"].count("jury") == 0
    assert models["tiny"].count("bid") == 1
    assert "tiny" in {bid["bidder"] for bid in outcome["bids"]}
    assert "tiny" in outcome["scores"]
    assert models["small"].count("jury") == models["large"].count("jury") == 1
    assert {record["juror"] for record in outcome["jury"]} == {"small", "large"}
    assert all(set(breakdown["jury"]) == {"small", "large"} for breakdown in outcome["scores"].values())


async def test_logprob_jury_scoring_gives_expected_scores(mode: str) -> None:
    pool = scripted_pool()
    app = create_auction(pool, jury_scoring="logprobs").compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    jury = outcome["jury"]
    assert all(record["expected_score"] is not None for record in jury)
    assert all(record["score"] == pytest.approx(record["expected_score"]) for record in jury)
    assert any(record["score"] != int(record["score"]) for record in jury)
    assert all(record["integer_score"] in range(6) for record in jury)
    judged = [score for breakdown in outcome["scores"].values() for score in breakdown["jury"].values()]
    assert any(score != int(score) for score in judged)


async def test_integer_jury_scoring_keeps_the_integer_answer(mode: str) -> None:
    app = create_auction(scripted_pool(), jury_scoring="integer", jury_batch=False).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    assert all(record["score"] == record["integer_score"] for record in outcome["jury"])
    assert {record["method"] for record in outcome["jury"]} == {"structured"}
    # Batched, the digit each plan got, not its expected score.
    app = create_auction(scripted_pool(), jury_scoring="integer").compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    assert all(record["score"] == record["integer_score"] != record["expected_score"] for record in outcome["jury"])
    assert {record["method"] for record in outcome["jury"]} == {"batch"}


async def test_digit_jury_scoring_reads_one_token_and_its_logprobs(mode: str) -> None:
    pool = scripted_pool()
    app = create_auction(pool, jury_batch=False).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    jury = outcome["jury"]
    assert len(jury) == 9 and {record["method"] for record in jury} == {"digit"}
    # The expected score over the digits' logprobs, not the sampled digit: graded, and near it.
    assert all(record["score"] == record["expected_score"] != record["integer_score"] for record in jury)
    assert all(abs(record["score"] - record["integer_score"]) < 1 for record in jury)
    assert all(record["usage"]["calls"] == 1 for record in jury)
    jury_calls = [prompt for bidder in pool for kind, prompt in bidder.model.calls if kind == "jury"]
    assert len(jury_calls) == 9 and all(call[-1].content.endswith(JURY_ASK) for call in jury_calls)


# ---- what models return: logprobs, usage, structured output ---------------------------------------------------


async def test_a_model_without_logprobs_leaves_entropy_out_for_every_bid(mode: str) -> None:
    pool = scripted_pool(large={"logprobs": None})
    outcome = (await run(create_auction(pool).compile(), {"auction_task": TASK}, mode))["auction_outcome"]
    entropy_by_bidder = {bid["bidder"]: bid["entropy"] for bid in outcome["bids"]}
    assert entropy_by_bidder["large"] is None
    assert entropy_by_bidder["tiny"] is not None and entropy_by_bidder["small"] is not None
    for breakdown in outcome["scores"].values():
        assert breakdown["entropy_used"] is False
        assert breakdown["H"] == 0
        assert "large" in breakdown["entropy_note"]


async def test_openai_logprobs_give_entropy_that_is_used(mode: str) -> None:
    outcome = (await run(create_auction(scripted_pool()).compile(), {"auction_task": TASK}, mode))["auction_outcome"]
    for bid in outcome["bids"]:
        assert bid["entropy"] is not None and 0 < bid["entropy"] <= math.log(bid["entropy_top_k"])
    assert all(breakdown["entropy_used"] and breakdown["H"] > 0 for breakdown in outcome["scores"].values())


async def test_ollama_logprobs_give_entropy_too(mode: str) -> None:
    ollama = {"logprobs": "ollama"}
    pool = scripted_pool(tiny=ollama, small=ollama, large=ollama)
    app = create_auction(pool, jury_scoring="logprobs").compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    for bid in outcome["bids"]:
        assert bid["entropy"] is not None and bid["entropy"] > 0
        assert bid["entropy_top_k"] == 5
    assert all(breakdown["entropy_used"] for breakdown in outcome["scores"].values())
    assert all(record["expected_score"] is not None for record in outcome["jury"])
    assert outcome["status"] == "executed"


async def test_a_model_without_usage_is_estimated_and_flagged(mode: str) -> None:
    pool = scripted_pool(tiny={"usage": False})
    outcome = (await run(create_auction(pool).compile(), {"auction_task": TASK}, mode))["auction_outcome"]
    usage_by_bidder = {bid["bidder"]: bid["usage"] for bid in outcome["bids"]}
    assert usage_by_bidder["tiny"]["estimated"] is True
    assert usage_by_bidder["tiny"]["input_tokens"] > 0 and usage_by_bidder["tiny"]["output_tokens"] > 0
    assert usage_by_bidder["small"]["estimated"] is False
    tiny_bid = next(bid for bid in outcome["bids"] if bid["bidder"] == "tiny")
    assert tiny_bid["plan_tokens"] == len(PLANS["tiny"].split())  # counted from the logprobs' tokens
    assert outcome["usage_by_phase"]["bid"]["estimated"] is True
    assert outcome["usage_estimated"] is True


async def test_a_model_without_structured_output_judges_through_the_text_fallback(mode: str) -> None:
    pool = scripted_pool(large={"structured": False})
    app = create_auction(pool, jury_scoring="integer", jury_batch=False).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    methods = {(record["juror"], record["bidder"]): record["method"] for record in outcome["jury"]}
    assert {methods["large", bidder] for bidder in PRICES} == {"text"}
    assert {methods["small", bidder] for bidder in PRICES} == {"structured"}
    large_scores = {r["bidder"]: r["score"] for r in outcome["jury"] if r["juror"] == "large"}
    assert large_scores == {"tiny": 1.0, "small": 5.0, "large": 5.0}


async def test_a_garbage_jury_answer_is_retried_once_then_dropped_and_the_jury_rescaled(mode: str) -> None:
    pool = scripted_pool(tiny={"jury": ["banana"]})
    models = models_of(pool)
    result = await run(create_auction(pool, jury_scoring="integer", jury_batch=False).compile(), {"auction_task": TASK},
                       mode)
    outcome = result["auction_outcome"]

    tiny_records = [record for record in outcome["jury"] if record["juror"] == "tiny"]
    assert len(tiny_records) == len(pool)
    for record in tiny_records:
        assert record["score"] is None and record["method"] == "none"
        assert record["attempts"] == 2
        assert "banana" in record["error"]
    assert models["tiny"].count("jury") == 2 * len(pool)
    assert models["small"].count("jury") == len(pool)
    other_records = [record for record in outcome["jury"] if record["juror"] != "tiny"]
    assert all(record["score"] is not None and record["error"] is None for record in other_records)
    for breakdown in outcome["scores"].values():
        assert breakdown["jury"]["tiny"] is None
        assert breakdown["jury_rescale"] == pytest.approx(1.5)
    assert outcome["scores"]["small"]["J"] == pytest.approx(1.0)  # two fives, rescaled to a full jury
    assert result["auction_winner"] == "small"


# ---- execution -------------------------------------------------------------------------------------------------


async def test_the_winner_gets_its_plan_as_system_guidance(mode: str) -> None:
    pool = scripted_pool()
    await run(create_auction(pool).compile(), {"auction_task": TASK}, mode)
    (prompt,) = execute_prompts(models_of(pool)["small"])
    system_messages = [message for message in prompt if isinstance(message, SystemMessage)]
    assert len(system_messages) == 1 and PLANS["small"] in system_messages[0].content
    assert prompt[-1].content == TASK


async def test_without_plan_guidance_the_winner_runs_on_the_bare_task(mode: str) -> None:
    pool = scripted_pool()
    result = await run(create_auction(pool, plan_guidance=False).compile(), {"auction_task": TASK}, mode)
    (prompt,) = execute_prompts(models_of(pool)["small"])
    assert not any(isinstance(message, SystemMessage) for message in prompt)
    assert [message.content for message in prompt] == [TASK]
    assert result["auction_plan"] == PLANS["small"]  # the plan is still recorded


async def test_only_the_winner_executes(mode: str) -> None:
    pool = scripted_pool()
    await run(create_auction(pool).compile(), {"auction_task": TASK}, mode)
    assert {name: model.count("execute") for name, model in models_of(pool).items()} == {
        "tiny": 0, "small": 1, "large": 0}


async def test_max_bid_tokens_caps_the_plans(mode: str) -> None:
    long_plan = " ".join(f"step{i}" for i in range(100))
    pool = scripted_pool(large={"plans": [long_plan]})
    app = create_auction(pool, max_bid_tokens=10).compile()
    outcome = (await run(app, {"auction_task": TASK}, mode))["auction_outcome"]
    large_bid = next(bid for bid in outcome["bids"] if bid["bidder"] == "large")
    assert large_bid["plan_tokens"] <= 10
    assert large_bid["plan"].split() == long_plan.split()[: len(large_bid["plan"].split())]
    assert len(large_bid["plan"].split()) <= 10
    assert outcome["scores"]["large"]["cost_feature"] <= 1


# ---- persistence -----------------------------------------------------------------------------------------------


async def test_two_auctions_on_one_thread_keep_only_the_newest_bids(mode: str) -> None:
    pool = scripted_pool()
    app = create_auction(pool).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "one-thread"}}

    first = await run(app, {"auction_task": "First task: add two numbers."}, mode, config)
    assert app.get_state(config).values["auction_task"] == "First task: add two numbers."
    assert first["auction_outcome"]["task"] == "First task: add two numbers."
    assert first["auction_outcome"]["task_message_id"] is None

    second = await run(app, {"auction_task": "Second task: reverse a string."}, mode, config)
    state = app.get_state(config).values  # the thread's own bids and jury: the first auction's are gone
    assert state["auction_id"] != first["auction_outcome"]["auction_id"]
    assert len(state["auction_bids"]) == len(pool)
    assert {bid["auction_id"] for bid in state["auction_bids"]} == {state["auction_id"]}
    assert len(state["auction_jury"]) == len(pool) ** 2
    assert {record["auction_id"] for record in state["auction_jury"]} == {state["auction_id"]}
    assert state["auction_task"] == "Second task: reverse a string."
    assert second["auction_outcome"]["task"] == "Second task: reverse a string."
    assert second["auction_outcome"]["auction_id"] == state["auction_id"]
    last_bid_prompt = [messages for kind, messages in models_of(pool)["small"].calls if kind == "bid"][-1]
    assert "Second task: reverse a string." in last_bid_prompt[-1].content
    assert len([message for message in second["messages"] if isinstance(message, AIMessage)]) == 2
    assert app.get_state(config).values["auction_task"] == "Second task: reverse a string."


async def test_a_new_human_message_on_the_thread_starts_a_new_auction(mode: str) -> None:
    pool = scripted_pool()
    app = create_auction(pool).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "chat-thread"}}

    first = await run(app, {"auction_task": "First task: add two numbers."}, mode, config)
    second = await run(app, {"messages": [HumanMessage("Second task: reverse a string.")]}, mode, config)

    state = app.get_state(config).values
    assert state["auction_id"] != first["auction_outcome"]["auction_id"]
    assert state["auction_task"] == "Second task: reverse a string."
    assert second["auction_outcome"]["task"] == "Second task: reverse a string."
    assert second["auction_outcome"]["task_message_id"] is not None
    assert {bid["auction_id"] for bid in state["auction_bids"]} == {state["auction_id"]}
    assert models_of(pool)["small"].count("bid") == 2
    assert second["messages"][-1].name == "small"

    # A third human message on the chat thread is auctioned in turn; a newly set auction_task always wins.
    third = await run(app, {"messages": [HumanMessage("Third task: count vowels.")]}, mode, config)
    assert third["auction_outcome"]["task"] == "Third task: count vowels."
    fourth = await run(app, {"auction_task": "Fourth task: merge two dicts."}, mode, config)
    assert fourth["auction_outcome"]["task"] == "Fourth task: merge two dicts."
    assert fourth["auction_outcome"]["task_message_id"] is None


# ---- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "inputs",
    [
        {"auction_task": ""},
        {"auction_task": "   \n\t"},
        {"auction_task": 42},
        {"auction_task": ["a", "list"]},
        {},
        {"messages": []},
        {"messages": [AIMessage("I am not a task.")]},
    ],
    ids=["empty", "whitespace", "int", "list", "no-input", "no-messages", "no-human-message"],
)
async def test_bad_task_raises_input_error_when_the_run_starts_before_any_bid(
    mode: str, inputs: dict[str, Any]
) -> None:
    pool = scripted_pool()
    app = create_auction(pool).compile()  # building is fine: the input is checked when the run starts
    with pytest.raises(AuctionInputError) as raised:
        await run(app, inputs, mode)
    assert raised.value.field == "auction_task"
    assert all(not model.calls for model in models_of(pool).values())
