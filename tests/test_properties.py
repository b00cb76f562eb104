"""Property tests: the jury parser's range, the scorer's finiteness and determinism, and the fence."""

from __future__ import annotations

import json
import math
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from langgraph_sale.jury import parse_jury_answer
from langgraph_sale.prompts import clean_untrusted, fence_untrusted
from langgraph_sale.scoring import AuctionWeights, CostValueScorer
from langgraph_sale.types import Bid, JuryScore

FAST = settings(max_examples=150, deadline=None, database=None)
NAMES = ["alpha", "beta", "gamma", "delta"]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

any_float = st.floats(allow_nan=True, allow_infinity=True)
# A juror weight is zero (skipped) or of a sane magnitude, of either sign.
juror_weight = st.one_of(st.just(0.0), st.floats(0.01, 1.0), st.floats(-1.0, -0.01))


# -- parse_jury_answer --------------------------------------------------------------------------------------------
jury_texts = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.text(alphabet="0123456789-.{}\":score ,/\x00\x1b\n\t"),
    st.builds(lambda a, n, b: f"{a}{n}{b}", st.text(max_size=20), any_float.map(repr), st.text(max_size=20)),
    st.builds(lambda n: json.dumps({"score": n}), st.one_of(st.integers(), any_float, st.text(max_size=5))),
)


@FAST
@given(jury_texts)
def test_parse_jury_answer_is_none_or_a_score(text: str) -> None:
    result = parse_jury_answer(text)
    assert result is None or (type(result) is int and 0 <= result <= 5)


@FAST
@given(st.integers())
@example(10**400)
@example(-(10**400))
def test_parse_jury_answer_clamps_any_json_integer(score: int) -> None:
    assert parse_jury_answer(json.dumps({"score": score})) == min(5, max(0, score))


# -- the scorer ---------------------------------------------------------------------------------------------------
@st.composite
def auctions(draw: st.DrawFn) -> tuple[AuctionWeights, dict[str, float], int, list[Bid], list[JuryScore]]:
    pool = NAMES[: draw(st.integers(2, len(NAMES)))]
    prices = {name: draw(st.floats(0.0, 1000.0)) for name in pool}
    weights = AuctionWeights(
        w_cost=draw(st.floats(-10.0, 10.0)),
        w_entropy=draw(st.floats(-10.0, 10.0)),
        w_jury={name: draw(juror_weight) for name in pool if draw(st.booleans())},
    )
    max_bid_tokens = draw(st.integers(0, 4096))
    bids: list[Bid] = []
    for name in pool:
        entropy = draw(st.one_of(st.none(), st.floats(0.0, 50.0), st.sampled_from([math.nan, math.inf, -math.inf])))
        bids.append(
            Bid(
                auction_id="p",
                bidder=name,
                plan=draw(st.sampled_from(["1. Do it.", "", "1. Plan it. 2. Test it."])),
                plan_tokens=draw(st.integers(0, 8192)),
                entropy=entropy,
                entropy_top_k=draw(st.one_of(st.none(), st.integers(1, 20))),
                error=draw(st.sampled_from([None, None, None, "boom"])),
            )
        )
    jury = [
        JuryScore(auction_id="p", juror=juror, bidder=bid.bidder, bid_id=bid.id,
                  score=draw(st.one_of(st.none(), any_float, st.floats(-10.0, 10.0))))
        for bid in bids
        for juror in pool
        if draw(st.integers(0, 4)) > 0
    ]
    return weights, prices, max_bid_tokens, bids, jury


@FAST
@given(auctions(), st.randoms(use_true_random=False))
def test_scores_are_finite_and_the_winner_is_deterministic(auction, rng) -> None:  # type: ignore[no-untyped-def]
    weights, prices, max_bid_tokens, bids, jury = auction
    scorer = CostValueScorer(weights)
    order = list(prices)

    def winner_of(bid_order: list[Bid]) -> str | None:
        table = scorer.score(bid_order, jury, prices=prices, max_bid_tokens=max_bid_tokens)
        for row in table.values():
            for value in (row.score, row.C, row.V, row.H, row.J, row.cost_feature, row.jury_rescale):
                assert math.isfinite(value), row
            assert math.isclose(row.score, row.C - row.V, rel_tol=1e-9, abs_tol=1e-9)
            assert all(score is None or 0.0 <= score <= 5.0 for score in row.jury.values())
        assert set(table) == {bid.bidder for bid in bid_order if bid.ok}
        return scorer.winner(table, prices=prices, order=order)

    first = winner_of(bids)
    assert winner_of(bids) == first
    shuffled = list(bids)
    rng.shuffle(shuffled)
    assert winner_of(shuffled) == first
    assert (first is None) == (not any(bid.ok for bid in bids))


# -- the fence ----------------------------------------------------------------------------------------------------
forged_markers = st.builds(
    lambda before, nonce, after, closing: f"{before}<{'/' if closing else ''}plan-{nonce}>{after}",
    st.text(max_size=30),
    st.text(alphabet="0123456789abcdef", min_size=10, max_size=10),
    st.text(max_size=30),
    st.booleans(),
)


@FAST
@given(st.one_of(st.text(), st.text(alphabet=st.characters(codec="utf-8")), forged_markers))
def test_the_fence_closes_only_at_its_end(text: str) -> None:
    fenced, tag = fence_untrusted(text)
    opening, closing = f"<{tag}>", f"</{tag}>"
    assert fenced.startswith(opening + "\n")
    assert fenced.endswith("\n" + closing)
    assert fenced.find(closing) == len(fenced) - len(closing)
    assert fenced.count(opening) == 1
    assert fenced[len(opening) + 1 : -len(closing) - 1] == clean_untrusted(text)


@FAST
@given(st.text())
def test_clean_untrusted_leaves_no_control_characters(text: str) -> None:
    clean = clean_untrusted(text)
    assert not _CONTROL.search(clean)
    assert clean_untrusted(clean) == clean
    assert set(clean) <= set(text) | {"?"}
