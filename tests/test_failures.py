"""Failures and bad configuration: failing, retried and slow bidders, no valid bid, a crashing executor, a failing
juror, and the config errors raised when the graph is built."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from langchain_core.messages import AIMessage, SystemMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import RetryPolicy
from typing_extensions import TypedDict

from langgraph_sale import (
    AuctionConfigError,
    AuctionNode,
    AuctionState,
    AuctionWeights,
    Bidder,
    CostValueScorer,
    create_auction,
)
from langgraph_sale.testing import ScriptedChatModel
from tests.support import PLANS, PRICES, TASK, answer_of, execute_prompts, models_of, run, scripted_pool

FAST_RETRY = RetryPolicy(max_attempts=2, initial_interval=0.01)
ALWAYS_FAILS_TO_BID = {"fail": {"bid": -1}}


def bid_of(result: Mapping[str, Any], bidder: str) -> dict[str, Any]:
    (bid,) = [bid for bid in result["auction_outcome"]["bids"] if bid["bidder"] == bidder]
    return bid  # type: ignore[no-any-return]


# ---- failing bidders -------------------------------------------------------------------------------------------


async def test_a_bidder_that_always_fails_is_recorded_and_the_others_carry_on(mode: str) -> None:
    pool = scripted_pool(large=ALWAYS_FAILS_TO_BID)
    models = models_of(pool)
    result = await run(create_auction(pool, bid_retry=FAST_RETRY).compile(), {"auction_task": TASK}, mode)
    outcome = result["auction_outcome"]

    failed = bid_of(result, "large")
    assert "ScriptedFailure" in failed["error"] and failed["plan"] == ""
    assert models["large"].count("bid") == 2  # both attempts of the retry policy
    assert failed["attempts"] == 2
    assert all(bid_of(result, name)["error"] is None for name in ("tiny", "small"))
    assert {record["bidder"] for record in outcome["jury"]} == {"tiny", "small"}
    assert len(outcome["jury"]) == 2 * len(pool)  # the failed bidder still sits on the jury
    assert set(outcome["scores"]) == {"tiny", "small"}
    assert outcome["status"] == "executed" and outcome["winner"] == "small"
    assert outcome["bids_failed"] == ["large"]
    assert result["messages"][-1].content == answer_of("small")


async def test_a_bidder_that_fails_once_is_retried_and_bids(mode: str) -> None:
    pool = scripted_pool(small={"fail": {"bid": 1}})
    models = models_of(pool)
    result = await run(create_auction(pool, bid_retry=FAST_RETRY).compile(), {"auction_task": TASK}, mode)

    assert models["small"].count("bid") == 2
    small_bid = bid_of(result, "small")
    assert small_bid["error"] is None and small_bid["plan"] == PLANS["small"]
    assert len(result["auction_outcome"]["bids"]) == len(pool)
    assert result["auction_outcome"]["bids_failed"] == []
    assert result["auction_winner"] == "small"


async def test_a_bidder_that_fails_once_without_retry_is_recorded_as_failed(mode: str) -> None:
    pool = scripted_pool(small={"fail": {"bid": 1}})
    result = await run(create_auction(pool, bid_retry=None).compile(), {"auction_task": TASK}, mode)
    assert models_of(pool)["small"].count("bid") == 1
    assert "ScriptedFailure" in bid_of(result, "small")["error"]
    assert bid_of(result, "small")["attempts"] == 1
    assert result["auction_winner"] != "small"


async def test_a_slow_bidder_times_out_and_is_recorded_as_failed(mode: str) -> None:
    # A generous timeout for the others (a loaded CI machine is slow), far below the slow bidder's latency.
    pool = scripted_pool(large={"latency_s": {"bid": 3.0}})
    app = create_auction(pool, bid_timeout=0.75, bid_retry=None).compile()
    result = await run(app, {"auction_task": TASK}, mode)

    slow_bid = bid_of(result, "large")
    assert "BidTimeoutError" in slow_bid["error"]
    assert "large" in slow_bid["error"]
    assert bid_of(result, "small")["error"] is None
    assert result["auction_outcome"]["bids_failed"] == ["large"]
    assert result["auction_outcome"]["status"] == "executed"
    assert result["auction_winner"] == "small"


# ---- no valid bid at all ---------------------------------------------------------------------------------------


def all_failing_pool() -> list[Bidder]:
    return scripted_pool(tiny=ALWAYS_FAILS_TO_BID, small=ALWAYS_FAILS_TO_BID, large=ALWAYS_FAILS_TO_BID)


@pytest.mark.parametrize(("fallback", "runner"), [(None, "large"), ("small", "small"), ("tiny", "tiny")])
async def test_with_no_valid_bid_the_fallback_runs_without_a_plan(mode: str, fallback: str | None,
                                                                   runner: str) -> None:
    pool = all_failing_pool()
    models = models_of(pool)
    app = create_auction(pool, fallback=fallback, bid_retry=None).compile()
    result = await run(app, {"auction_task": TASK}, mode)

    outcome = result["auction_outcome"]
    assert outcome["status"] == "executed"
    assert outcome["winner"] == runner and outcome["fallback_used"] is True
    assert outcome["reason"].startswith("fallback")
    assert outcome["plan"] == "" and outcome["answer"] == answer_of(runner)
    assert sorted(outcome["bids_failed"]) == sorted(PRICES)
    assert outcome["scores"] == {} and outcome["jury"] == []
    assert all(model.count("jury") == 0 for model in models.values())
    assert {name: model.count("execute") for name, model in models.items()} == {
        name: int(name == runner) for name in PRICES}
    (prompt,) = execute_prompts(models[runner])
    assert not any(isinstance(message, SystemMessage) for message in prompt)
    assert result["messages"][-1].name == runner


async def test_with_no_valid_bid_and_fallback_disabled_nobody_runs(mode: str) -> None:
    pool = all_failing_pool()
    result = await run(create_auction(pool, fallback=False, bid_retry=None).compile(), {"auction_task": TASK}, mode)

    outcome = result["auction_outcome"]
    assert outcome["status"] == "no_bids"
    assert outcome["winner"] is None and outcome["answer"] is None
    assert outcome["reason"].startswith("no_bids")
    assert outcome["fallback_used"] is False
    assert result["auction_winner"] is None
    assert all(model.count("execute") == 0 for model in models_of(pool).values())
    assert not any(isinstance(message, AIMessage) for message in result.get("messages", []))


# ---- a crashing executor ---------------------------------------------------------------------------------------


def crashing_agent() -> Any:
    def crash(state: MessagesState) -> dict[str, Any]:
        raise RuntimeError("executor crashed")

    graph = StateGraph(MessagesState)
    graph.add_node("crash", crash)
    graph.add_edge(START, "crash")
    return graph.compile(name="crashing_agent")


async def test_a_crashing_executor_is_recorded_and_the_auction_is_kept(mode: str) -> None:
    pool = scripted_pool(agents={"small": crashing_agent()})
    result = await run(create_auction(pool).compile(), {"auction_task": TASK}, mode)

    outcome = result["auction_outcome"]
    assert outcome["status"] == "execution_failed"
    assert outcome["winner"] == "small" and outcome["answer"] is None
    assert "RuntimeError" in outcome["execution_error"] and "executor crashed" in outcome["execution_error"]
    assert len(outcome["bids"]) == len(pool)
    assert len(outcome["jury"]) == len(pool) ** 2
    assert set(outcome["scores"]) == set(PRICES)
    assert result["auction_plan"] == PLANS["small"]
    assert not any(isinstance(message, AIMessage) for message in result.get("messages", []))
    assert outcome["tokens_by_phase"]["bid"] > 0 and outcome["tokens_by_phase"]["jury"] > 0


def test_a_crashing_executor_emits_execution_failed() -> None:
    pool = scripted_pool(agents={"small": crashing_agent()})
    app = create_auction(pool).compile()
    events = [payload["auction_event"] for stream_mode, payload in
              app.stream({"auction_task": TASK}, stream_mode=["updates", "custom"]) if stream_mode == "custom"]
    assert "execution_failed" in events and "executed" not in events
    assert events[-1] == "outcome"


# ---- a failing juror -------------------------------------------------------------------------------------------


async def test_a_juror_that_always_fails_is_dropped_for_every_bid(mode: str) -> None:
    pool = scripted_pool(tiny={"fail": {"jury": -1}})
    models = models_of(pool)
    result = await run(create_auction(pool).compile(), {"auction_task": TASK}, mode)
    outcome = result["auction_outcome"]

    tiny_records = [record for record in outcome["jury"] if record["juror"] == "tiny"]
    assert sorted(record["bidder"] for record in tiny_records) == sorted(PRICES)
    for record in tiny_records:
        assert record["score"] is None
        assert "ScriptedFailure" in record["error"]
    # The batched request, then one request per bid and one retry each, then dropped.
    assert models["tiny"].count("jury") == 1 + 2 * len(pool)
    assert all(breakdown["jury"]["tiny"] is None and breakdown["jury_rescale"] > 1
               for breakdown in outcome["scores"].values())
    assert models["tiny"].count("bid") == 1 and bid_of(result, "tiny")["error"] is None
    assert outcome["status"] == "executed"
    assert result["auction_winner"] == "small"


# ---- configuration errors, raised when the graph is built -----------------------------------------------------


class NoAuctionKeys(TypedDict):
    messages: list[Any]


class SomeAuctionKeys(TypedDict, total=False):
    messages: list[Any]
    auction_task: str | None
    auction_winner: str | None


def a_model() -> ScriptedChatModel:
    return ScriptedChatModel()


def two_bidders() -> list[Bidder]:
    return [Bidder("small", a_model(), 0.06), Bidder("large", a_model(), 0.54)]


CONFIG_ERRORS: dict[str, tuple[Callable[[], Any], str]] = {
    "empty pool": (lambda: create_auction([]), "bidders"),
    "duplicate names": (lambda: create_auction([Bidder("small", a_model(), 1.0), Bidder("small", a_model(), 2.0)]),
                        "bidders"),
    "not a list of bidders": (lambda: create_auction([a_model()]), "bidders[0]"),
    "capitalised name": (lambda: Bidder("Small", a_model(), 1.0), "Bidder.name"),
    "dashed name": (lambda: Bidder("my-model", a_model(), 1.0), "Bidder.name"),
    "empty name": (lambda: Bidder("", a_model(), 1.0), "Bidder.name"),
    "negative price": (lambda: Bidder("small", a_model(), -0.1), "Bidder(small).price_per_mtok"),
    "NaN price": (lambda: Bidder("small", a_model(), float("nan")), "Bidder(small).price_per_mtok"),
    "infinite price": (lambda: Bidder("small", a_model(), float("inf")), "Bidder(small).price_per_mtok"),
    "text price": (lambda: Bidder("small", a_model(), "cheap"), "Bidder(small).price_per_mtok"),  # type: ignore
    "not a chat model": (lambda: Bidder("small", object(), 1.0), "Bidder(small).model"),  # type: ignore[arg-type]
    "unknown fallback": (lambda: create_auction(two_bidders(), fallback="huge"), "fallback"),
    "fallback True": (lambda: create_auction(two_bidders(), fallback=True), "fallback"),
    "jury of zero": (lambda: create_auction(two_bidders(), jury=0), "jury"),
    "jury larger than the pool": (lambda: create_auction(two_bidders(), jury=3), "jury"),
    "unknown route": (lambda: create_auction(two_bidders(), route="other"), "route"),  # type: ignore[arg-type]
    "destinations without parent route": (
        lambda: create_auction(two_bidders(), parent_destinations={"small": "agent"}), "parent_destinations"),
    "destinations naming a stranger": (
        lambda: create_auction(two_bidders(), route="parent", parent_destinations={"huge": "agent"}),
        "parent_destinations"),
    "zero bid tokens": (lambda: create_auction(two_bidders(), max_bid_tokens=0), "max_bid_tokens"),
    "negative timeout": (lambda: create_auction(two_bidders(), bid_timeout=-1), "bid_timeout"),
    "zero timeout": (lambda: create_auction(two_bidders(), bid_timeout=0), "bid_timeout"),
    "unknown jury scoring": (lambda: create_auction(two_bidders(), jury_scoring="vibes"),  # type: ignore[arg-type]
                             "jury_scoring"),
    "state without auction keys": (lambda: create_auction(two_bidders(), state_schema=NoAuctionKeys),
                                   "state_schema"),
    "state with some auction keys": (lambda: create_auction(two_bidders(), state_schema=SomeAuctionKeys),
                                     "state_schema"),
    "weight for a stranger juror": (
        lambda: create_auction(two_bidders(), scorer=CostValueScorer(AuctionWeights(w_jury={"huge": 1.0}))),
        "scorer.weights.w_jury"),
    "evaluate not callable": (lambda: create_auction(two_bidders(), evaluate="yes"), "evaluate"),  # type: ignore
    "zero max steps": (lambda: create_auction(two_bidders(), max_steps=0), "max_steps"),
    "node with bad option": (lambda: AuctionNode(two_bidders(), jury=5), "jury"),
}


@pytest.mark.parametrize(("build", "field"), list(CONFIG_ERRORS.values()), ids=list(CONFIG_ERRORS))
def test_bad_configuration_raises_naming_the_field(build: Callable[[], Any], field: str) -> None:
    with pytest.raises(AuctionConfigError) as raised:
        build()
    assert raised.value.field == field


def test_a_host_state_that_subclasses_auction_state_is_accepted() -> None:
    class HostState(AuctionState):
        ticket: str

    graph = create_auction(two_bidders(), state_schema=HostState, jury=1, bid_timeout=None, fallback="large")
    assert {"open_auction", "bid", "judge", "score", "execute_small", "execute_large"} <= set(graph.nodes)
