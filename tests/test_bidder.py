"""Bidders and bids: pool validation, the token cap on real integrations (no network), bids from a scripted model,
and the hashing embedder."""

from __future__ import annotations

import math
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from langgraph_sale.bidder import Bidder, validate_pool
from langgraph_sale.bidding import amake_bid, failed_bid, make_bid
from langgraph_sale.calls import auction_call, with_token_cap
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.limits import CallLimiter
from langgraph_sale.prompts import BID_MARKER, PLAN_END, PLAN_STOP
from langgraph_sale.testing import HashingEmbeddings, ScriptedChatModel

DEAD_URL = "http://127.0.0.1:9"
PLAN = "1. Restate the inputs. 2. Write the function. 3. Run unit tests on edge cases."
PLAN_WORDS = len(PLAN.split())
REQUEST = {"auction_id": "a1", "bidder": "small", "task": "Deduplicate and sort a list of integers.", "round": 2}


# -- helpers ------------------------------------------------------------------------------------------------------
def scripted(**options: Any) -> ScriptedChatModel:
    return ScriptedChatModel(**{"plans": [PLAN], **options})


def config_field(call: Any) -> str:
    with pytest.raises(AuctionConfigError) as info:
        call()
    return info.value.field


def entropy_of(p_top: float, k: int) -> float:
    rest = (1 - p_top) / (k - 1)
    return -(p_top * math.log(p_top) + (k - 1) * rest * math.log(rest))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# -- Bidder validation --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Small", "1small", "small-model", "small model", "", "_small", "small_", "a__b", 3])
def test_a_bidder_name_must_be_snake_case(name: Any) -> None:
    assert config_field(lambda: Bidder(name, scripted(), 0.1)) == "Bidder.name"


@pytest.mark.parametrize("name", ["small", "a", "qwen2_5_coder", "model_7b"])
def test_snake_case_names_are_accepted(name: str) -> None:
    assert Bidder(name, scripted(), 0.1).name == name


def test_a_bidder_needs_a_chat_model() -> None:
    assert config_field(lambda: Bidder("small", RunnableLambda(lambda x: x), 0.1)) == "Bidder(small).model"
    assert config_field(lambda: Bidder("small", "gpt-4o", 0.1)) == "Bidder(small).model"


@pytest.mark.parametrize("price", [-0.01, math.nan, math.inf, -math.inf, "0.1", None, True])
def test_a_bidder_price_must_be_a_finite_non_negative_number(price: Any) -> None:
    assert config_field(lambda: Bidder("small", scripted(), price)) == "Bidder(small).price_per_mtok"


def test_a_valid_price_is_kept_as_a_float() -> None:
    assert Bidder("small", scripted(), 0).price_per_mtok == 0.0
    assert isinstance(Bidder("small", scripted(), 3).price_per_mtok, float)


def test_a_bidder_agent_must_be_invokable() -> None:
    assert config_field(lambda: Bidder("small", scripted(), 0.1, agent=object())) == "Bidder(small).agent"
    assert Bidder("small", scripted(), 0.1, agent=RunnableLambda(lambda x: x)).agent is not None


def test_a_bidder_limiter_must_be_a_call_limiter() -> None:
    assert config_field(lambda: Bidder("small", scripted(), 0.1, limiter=2)) == "Bidder(small).limiter"
    limiter = CallLimiter(1)
    assert Bidder("small", scripted(), 0.1, limiter=limiter).limiter is limiter


# -- validate_pool ------------------------------------------------------------------------------------------------
def test_validate_pool_indexes_by_name_in_pool_order() -> None:
    pool = [Bidder("zeta", scripted(), 1.0), Bidder("alpha", scripted(), 0.5), Bidder("mid", scripted(), 0.7)]
    indexed = validate_pool(pool)
    assert list(indexed) == ["zeta", "alpha", "mid"]
    assert indexed["alpha"] is pool[1]
    assert list(validate_pool(tuple(pool))) == ["zeta", "alpha", "mid"]


@pytest.mark.parametrize(
    ("pool", "field"),
    [
        ([], "bidders"),
        ("small", "bidders"),
        (None, "bidders"),
        ({"small": 1}, "bidders"),
        ([Bidder("a", ScriptedChatModel(), 1.0), "b"], "bidders[1]"),
        ([Bidder("a", ScriptedChatModel(), 1.0), Bidder("a", ScriptedChatModel(), 2.0)], "bidders"),
    ],
)
def test_validate_pool_errors_name_the_field(pool: Any, field: str) -> None:
    assert config_field(lambda: validate_pool(pool)) == field


def test_a_single_bidder_is_not_a_pool() -> None:
    assert config_field(lambda: validate_pool(Bidder("a", ScriptedChatModel(), 1.0))) == "bidders"  # type: ignore[arg-type]


def test_duplicate_names_are_reported() -> None:
    with pytest.raises(AuctionConfigError, match="duplicate bidder name 'a'"):
        validate_pool([Bidder("a", ScriptedChatModel(), 1.0), Bidder("a", ScriptedChatModel(), 2.0)])


# -- with_token_cap -----------------------------------------------------------------------------------------------
def openai(**options: Any) -> ChatOpenAI:
    return ChatOpenAI(model="m", api_key="x", base_url=f"{DEAD_URL}/v1", **options)


def ollama(**options: Any) -> ChatOllama:
    return ChatOllama(model="m", base_url=DEAD_URL, **options)


def test_with_token_cap_sets_max_tokens_on_chat_openai() -> None:
    model = openai()
    capped = with_token_cap(model, 64)
    assert isinstance(capped, ChatOpenAI)
    assert capped.max_tokens == 64
    assert model.max_tokens is None  # a copy: the bidder's own model is untouched
    assert capped.model_name == "m"


def test_with_token_cap_replaces_a_larger_openai_cap_and_keeps_a_smaller_one() -> None:
    assert with_token_cap(openai(max_tokens=4096), 64).max_tokens == 64
    small = openai(max_tokens=32)
    assert with_token_cap(small, 64).max_tokens == 32


def test_with_token_cap_sets_num_predict_on_chat_ollama() -> None:
    model = ollama()
    capped = with_token_cap(model, 128)
    assert isinstance(capped, ChatOllama)
    assert capped.num_predict == 128
    assert model.num_predict is None
    assert capped.base_url == DEAD_URL


def test_with_token_cap_replaces_a_larger_ollama_cap_and_keeps_a_smaller_one() -> None:
    assert with_token_cap(ollama(num_predict=2048), 128).num_predict == 128
    assert with_token_cap(ollama(num_predict=16), 128).num_predict == 16
    assert with_token_cap(ollama(num_predict=-1), 128).num_predict == 128  # -1 means "no limit" to Ollama


def test_with_token_cap_leaves_a_model_without_a_cap_field_alone() -> None:
    model = FakeListChatModel(responses=["1. Plan."])
    assert with_token_cap(model, 64) is model


def test_auction_call_caps_and_hides_the_call_from_the_message_stream() -> None:
    call = auction_call(openai(), 64)
    assert call.config["tags"] == ["nostream"]
    assert call.bound.max_tokens == 64  # type: ignore[attr-defined]


# -- make_bid / amake_bid -----------------------------------------------------------------------------------------
def check_bid(bid: Any, model: ScriptedChatModel, *, price: float) -> None:
    assert bid.ok
    assert (bid.auction_id, bid.bidder, bid.round, bid.phase) == ("a1", "small", 2, "bid")
    assert bid.plan == PLAN
    assert bid.plan_tokens == PLAN_WORDS
    assert bid.entropy == pytest.approx(entropy_of(0.8, 5))
    assert bid.entropy_top_k == 5
    assert bid.usage.output_tokens == PLAN_WORDS
    assert bid.usage.input_tokens > 0
    assert bid.usage.calls == 1 and bid.usage.estimated is False
    assert bid.usage.cost_usd == pytest.approx(price * bid.usage.total_tokens / 1e6)
    assert bid.latency_s > 0
    assert bid.error is None
    (kind, prompt), = model.calls
    assert kind == "bid"
    # The shared-prefix layout: one message, the task first, then the bidder (marked as a bid).
    assert len(prompt) == 1 and f"\n\n{BID_MARKER} You are small" in str(prompt[-1].content)
    assert str(prompt[-1].content).startswith(f"Task:\n{REQUEST['task']}")


def test_make_bid_turns_the_answer_into_a_bid() -> None:
    model = scripted(latency_s=0.001)
    bid = make_bid(REQUEST, Bidder("small", model, 0.5), max_tokens=64, timeout=5)
    check_bid(bid, model, price=0.5)


async def test_amake_bid_turns_the_answer_into_a_bid() -> None:
    model = scripted(latency_s=0.001)
    bid = await amake_bid(REQUEST, Bidder("small", model, 0.5), max_tokens=64, timeout=5)
    check_bid(bid, model, price=0.5)


@pytest.mark.parametrize("fmt", ["openai", "ollama"])
def test_bid_entropy_follows_the_confidence_in_either_format(fmt: str) -> None:
    def bid_at(confidence: float) -> Any:
        bidder = Bidder("small", scripted(confidence=confidence, logprobs=fmt), 0.1)
        return make_bid(REQUEST, bidder, max_tokens=64, timeout=None)

    sure, unsure = bid_at(0.95), bid_at(0.4)
    assert sure.entropy == pytest.approx(entropy_of(0.95, 5))
    assert unsure.entropy == pytest.approx(entropy_of(0.4, 5))
    assert sure.entropy < unsure.entropy <= math.log(5)


def test_a_bid_without_logprobs_has_no_entropy() -> None:
    bid = make_bid(REQUEST, Bidder("small", scripted(logprobs=None), 0.1), max_tokens=64, timeout=None)
    assert bid.entropy is None and bid.entropy_top_k is None
    assert bid.ok


def test_a_bid_without_usage_is_estimated_but_counts_tokens_from_logprobs() -> None:
    model = scripted(usage=False)
    bid = make_bid(REQUEST, Bidder("small", model, 2.0), max_tokens=64, timeout=None)
    assert bid.usage.estimated is True
    assert bid.plan_tokens == bid.usage.output_tokens == PLAN_WORDS  # one logprob entry per generated token
    prompt_chars = sum(len(str(message.content)) for message in model.calls[0][1])
    assert bid.usage.input_tokens == math.ceil(prompt_chars / 4)
    assert bid.usage.cost_usd == pytest.approx(2.0 * (bid.usage.input_tokens + PLAN_WORDS) / 1e6)


def test_a_bid_without_usage_or_logprobs_estimates_from_the_text() -> None:
    bid = make_bid(REQUEST, Bidder("small", scripted(usage=False, logprobs=None), 1.0), max_tokens=64, timeout=None)
    assert bid.usage.estimated is True
    assert bid.plan_tokens == math.ceil(len(PLAN) / 4)


def test_the_bid_cap_reaches_the_model() -> None:
    long_plan = " ".join(f"step{i}" for i in range(100))
    bid = make_bid(REQUEST, Bidder("small", scripted(plans=[long_plan]), 0.1), max_tokens=10, timeout=None)
    assert bid.plan_tokens == 10
    assert bid.plan == " ".join(f"step{i}" for i in range(10))


def test_an_empty_plan_is_a_failed_bid() -> None:
    bid = make_bid(REQUEST, Bidder("small", scripted(plans=["  \x00 "]), 0.1), max_tokens=64, timeout=None)
    assert not bid.ok
    assert bid.error == "empty plan"


def test_a_plan_that_repeats_itself_is_a_failed_bid_however_confident() -> None:
    # SmolLM2-135M's demo bid: one step in a loop, written with near-certain tokens (low entropy).
    loop = " ".join(["1."] * 40)
    bid = make_bid(REQUEST, Bidder("tiny", scripted(plans=[loop]), 0.02), max_tokens=64, timeout=None)
    assert not bid.ok and bid.error == "degenerate plan: it repeats itself"
    assert bid.usage.output_tokens > 0  # the model answered: its tokens are still paid for
    varied = "1. Parse the list. 2. Sort it. 3. Drop duplicates. 4. Check each example. 5. Return the list."
    assert make_bid(REQUEST, Bidder("tiny", scripted(plans=[varied]), 0.02), max_tokens=64, timeout=None).ok


def test_a_plan_is_cleaned_of_control_characters() -> None:
    bid = make_bid(REQUEST, Bidder("small", scripted(plans=["1. Do\x1b it.\u202e"]), 0.1), max_tokens=64, timeout=None)
    assert bid.plan == "1. Do it."


def test_make_bid_lets_model_errors_propagate() -> None:
    bidder = Bidder("small", scripted(fail={"bid": -1}), 0.1)
    with pytest.raises(ConnectionError):
        make_bid(REQUEST, bidder, max_tokens=64, timeout=None)


def test_failed_bid_keeps_its_place_and_takes_no_part() -> None:
    bid = failed_bid(REQUEST, ConnectionError("down"), attempts=3)
    assert not bid.ok
    assert bid.error == "ConnectionError: down"
    assert (bid.bidder, bid.round, bid.attempts) == ("small", 2, 3)


# -- HashingEmbeddings --------------------------------------------------------------------------------------------
def test_hashing_embeddings_are_deterministic() -> None:
    texts = ["sort a list of integers", "capital of France"]
    first = HashingEmbeddings(dims=64).embed_documents(texts)
    again = HashingEmbeddings(dims=64).embed_documents(texts)
    assert first == again
    assert HashingEmbeddings(dims=64).embed_query(texts[0]) == first[0]
    assert len(first[0]) == 64


@pytest.mark.parametrize("text", ["sort a list", "Capital of FRANCE!", "x " * 50, "unicode: déjà vu ünïcödé"])
def test_hashing_embeddings_are_normalised(text: str) -> None:
    vector = HashingEmbeddings().embed_query(text)
    assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0)


def test_hashing_embeddings_of_text_without_words_is_zero() -> None:
    assert HashingEmbeddings(dims=8).embed_query("!!! ...") == [0.0] * 8


def test_texts_sharing_words_are_closer() -> None:
    emb = HashingEmbeddings()
    a, b, c = emb.embed_documents(
        ["deduplicate and sort a list of integers", "sort a list of integers quickly", "the capital city of France"]
    )
    assert cosine(a, b) > cosine(a, c)
    assert cosine(a, a) == pytest.approx(1.0)


def test_hashing_embeddings_need_a_dimension() -> None:
    with pytest.raises(ValueError):
        HashingEmbeddings(dims=0)


# ---- plans that end ----------------------------------------------------------------------------------------------


def test_a_steps_bid_is_stopped_at_its_end_and_the_end_line_is_not_plan() -> None:
    model = scripted(plans=["1. Sort the list.\n2. Drop repeats.\n3. Test edge cases.\nEND"])
    bidder = Bidder("small", model, price_per_mtok=0.1)
    bid = make_bid(dict(REQUEST), bidder, max_tokens=64, timeout=5)
    assert bid.plan == "1. Sort the list.\n2. Drop repeats.\n3. Test edge cases."
    # The call carries the stop sequences; the earlier free plan carries none.
    steps = bidder.auction_model(64, PLAN_STOP)
    assert steps.kwargs["stop"] == list(PLAN_STOP) and PLAN_END in PLAN_STOP
    assert "stop" not in bidder.auction_model(64).kwargs


def test_a_free_bid_keeps_the_earlier_prompt() -> None:
    model = scripted()
    make_bid(dict(REQUEST), Bidder("small", model, price_per_mtok=0.1), max_tokens=64, timeout=5, plan_format="free")
    (kind, prompt), = model.calls
    assert kind == "bid" and BID_MARKER in str(prompt[0].content) and len(prompt) == 2
