"""Prices as providers charge them: input, cached input and output, per bidder (`langgraph_sale.pricing`)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from langgraph_sale import AuctionConfigError, Bidder, create_auction
from langgraph_sale.metrics import call_usage
from langgraph_sale.pricing import Pricing
from langgraph_sale.testing import ScriptedChatModel

PROVIDER = Pricing(input=0.10, cached_input=0.025, output=0.40)


def answer(input_tokens: int, output_tokens: int, cached: int = 0) -> AIMessage:
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens,
             "total_tokens": input_tokens + output_tokens}
    if cached:
        usage["input_token_details"] = {"cache_read": cached}
    return AIMessage("ok", usage_metadata=usage)  # type: ignore[arg-type]


def test_one_number_is_the_same_price_on_every_token_to_the_last_digit() -> None:
    for price in (0.06, 0.18, 0.54):
        assert call_usage(answer(1234, 567), price_per_mtok=price).cost_usd == price * (1234 + 567) / 1_000_000
    assert Pricing.of(0.18) == Pricing(input=0.18, output=0.18) and Pricing.of(0.18).flat


def test_input_cached_input_and_output_are_each_charged_at_their_price() -> None:
    usage = call_usage(answer(1000, 100, cached=800), price_per_mtok=PROVIDER)
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (1000, 800, 100)
    assert usage.cost_usd == pytest.approx((200 * 0.10 + 800 * 0.025 + 100 * 0.40) / 1e6)
    # Without a cached-input price, cached tokens are input tokens.
    assert Pricing(input=0.1, output=0.4).cost(input_tokens=1000, cached_input_tokens=800, output_tokens=0) == \
        pytest.approx(1e-4)


def test_a_bidder_takes_a_provider_pricing_and_ranks_by_its_output_price() -> None:
    bidder = Bidder("small", ScriptedChatModel(), PROVIDER)
    assert bidder.pricing == PROVIDER and bidder.price_per_mtok == 0.40


def test_an_auctions_ledger_charges_each_bidder_its_own_prices() -> None:
    flat = [Bidder("small", ScriptedChatModel(plans=["1. Test it."], jury=[5]), 0.1),
            Bidder("large", ScriptedChatModel(plans=["1. Test it."], jury=[5]), 0.4)]
    split = [Bidder("small", ScriptedChatModel(plans=["1. Test it."], jury=[5]), Pricing(input=0.1, output=0.1)),
             Bidder("large", ScriptedChatModel(plans=["1. Test it."], jury=[5]), Pricing(input=0.4, output=0.4))]
    flat_outcome = create_auction(flat).compile().invoke({"auction_task": "Sort."})["auction_outcome"]
    split_outcome = create_auction(split).compile().invoke({"auction_task": "Sort."})["auction_outcome"]
    assert split_outcome["total_cost_usd"] == flat_outcome["total_cost_usd"]  # the same prices, the same bill
    dear_output = [Bidder("small", ScriptedChatModel(plans=["1. Test it."], jury=[5]),
                          Pricing(input=0.1, output=1.0)),
                   Bidder("large", ScriptedChatModel(plans=["1. Test it."], jury=[5]), 0.4)]
    outcome = create_auction(dear_output).compile().invoke({"auction_task": "Sort."})["auction_outcome"]
    small_bid = next(b for b in outcome["bids"] if b["bidder"] == "small")
    usage = small_bid["usage"]
    assert usage["cost_usd"] == pytest.approx((usage["input_tokens"] * 0.1 + usage["output_tokens"] * 1.0) / 1e6)


@pytest.mark.parametrize(("build", "field"), [
    (lambda: Pricing(input=-1, output=1), "pricing.input"),
    (lambda: Pricing(input=1, output=float("nan")), "pricing.output"),
    (lambda: Pricing(input=1, output=1, cached_input="cheap"), "pricing.cached_input"),  # type: ignore[arg-type]
    (lambda: Bidder("small", ScriptedChatModel(), "cheap"), "Bidder(small).price_per_mtok"),  # type: ignore
])
def test_a_bad_price_is_named(build: object, field: str) -> None:
    with pytest.raises(AuctionConfigError) as raised:
        build()  # type: ignore[operator]
    assert raised.value.field == field
