"""The scorer: score = C - V, the scaling rule, the default-weight properties, ties, missing entropy, dropped and
zero-weight jurors, and the weights file."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import pytest
from pydantic import ValidationError

from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.scoring import AuctionWeights, CostValueScorer
from langgraph_sale.types import Bid, JuryScore, ScoreBreakdown

MAX_BID_TOKENS = 256
K = 5


# -- helpers ------------------------------------------------------------------------------------------------------
def make_bid(
    bidder: str,
    *,
    tokens: int = 100,
    entropy: float | None = 0.5,
    top_k: int | None = K,
    plan: str = "1. Read the task. 2. Do it. 3. Check it.",
    error: str | None = None,
) -> Bid:
    return Bid(
        auction_id="a1",
        bidder=bidder,
        plan=plan,
        plan_tokens=tokens,
        entropy=entropy,
        entropy_top_k=top_k if entropy is not None else None,
        error=error,
    )


def verdicts(bid: Bid, scores: Mapping[str, float | None]) -> list[JuryScore]:
    """One juror record per (juror, score) for `bid`."""
    return [
        JuryScore(auction_id=bid.auction_id, juror=juror, bidder=bid.bidder, bid_id=bid.id, score=score)
        for juror, score in scores.items()
    ]


def unanimous(bids: Sequence[Bid], jurors: Sequence[str], score_of: Mapping[str, float]) -> list[JuryScore]:
    """Every juror gives each bid the score `score_of[bid.bidder]`."""
    return [j for bid in bids for j in verdicts(bid, {name: score_of[bid.bidder] for name in jurors})]


def decide(
    bids: Sequence[Bid],
    jury: Sequence[JuryScore],
    prices: Mapping[str, float],
    *,
    weights: AuctionWeights | None = None,
    order: Sequence[str] | None = None,
    **options: object,
) -> tuple[dict[str, ScoreBreakdown], str | None]:
    scorer = CostValueScorer(weights)
    table = scorer.score(bids, jury, prices=prices, max_bid_tokens=MAX_BID_TOKENS, **options)  # type: ignore[arg-type]
    return table, scorer.winner(table, prices=prices, order=list(order if order is not None else prices))


# -- the winner and ties ------------------------------------------------------------------------------------------
def test_the_lowest_score_wins() -> None:
    prices = {"a": 0.1, "b": 0.1, "c": 0.1}
    bids = [make_bid("a"), make_bid("b"), make_bid("c")]
    jury = unanimous(bids, list(prices), {"a": 2, "b": 4, "c": 3})
    table, winner = decide(bids, jury, prices)
    lowest = min(table, key=lambda name: table[name].score)
    assert winner == lowest == "b"
    assert CostValueScorer.ranking(table, prices=prices, order=list(prices)) == ["b", "c", "a"]


def test_no_scored_bid_means_no_winner() -> None:
    table, winner = decide([], [], {"a": 0.1})
    assert table == {}
    assert winner is None


def test_a_tie_goes_to_the_cheaper_bidder_then_to_pool_order() -> None:
    # Equal cost (0.2 * 100 == 0.1 * 200), equal entropy, equal jury: the scores tie.
    prices = {"a": 0.2, "b": 0.1}
    bids = [make_bid("a", tokens=100), make_bid("b", tokens=200)]
    jury = unanimous(bids, list(prices), {"a": 3, "b": 3})
    table, winner = decide(bids, jury, prices, order=["a", "b"])
    assert table["a"].score == pytest.approx(table["b"].score, abs=1e-12)
    assert winner == "b"  # cheaper, although later in the pool

    # Same price, same everything: pool order decides, whichever way the pool is ordered.
    same = {"a": 0.1, "b": 0.1}
    bids = [make_bid("a"), make_bid("b")]
    jury = unanimous(bids, list(same), {"a": 3, "b": 3})
    assert decide(bids, jury, same, order=["a", "b"])[1] == "a"
    assert decide(bids, jury, same, order=["b", "a"])[1] == "b"


# -- each feature alone flips the decision ------------------------------------------------------------------------
def test_price_alone_changes_the_winner() -> None:
    def winner_with(prices: dict[str, float]) -> str | None:
        bids = [make_bid("a"), make_bid("b")]
        table, winner = decide(bids, unanimous(bids, list(prices), {"a": 3, "b": 3}), prices, order=["a", "b"])
        loser = "b" if winner == "a" else "a"
        assert table[winner].score < table[loser].score  # a real score difference, not the tie-break
        return winner

    assert winner_with({"a": 0.4, "b": 0.1}) == "b"
    assert winner_with({"a": 0.1, "b": 0.4}) == "a"


def test_plan_length_alone_changes_the_winner_at_equal_price() -> None:
    prices = {"a": 0.2, "b": 0.2}

    def winner_with(tokens: dict[str, int]) -> str | None:
        bids = [make_bid("a", tokens=tokens["a"]), make_bid("b", tokens=tokens["b"])]
        table, winner = decide(bids, unanimous(bids, list(prices), {"a": 3, "b": 3}), prices)
        assert table["a"].score != table["b"].score
        return winner

    assert winner_with({"a": 200, "b": 50}) == "b"
    assert winner_with({"a": 50, "b": 200}) == "a"


def test_entropy_alone_changes_the_winner() -> None:
    prices = {"a": 0.2, "b": 0.2}

    def winner_with(entropy: dict[str, float]) -> str | None:
        bids = [make_bid("a", entropy=entropy["a"]), make_bid("b", entropy=entropy["b"])]
        table, winner = decide(bids, unanimous(bids, list(prices), {"a": 3, "b": 3}), prices)
        assert table["a"].entropy_used and table["b"].entropy_used
        assert table["a"].score != table["b"].score
        return winner

    # The paper's sign: with the default positive weight, the higher-entropy plan is worth more.
    assert winner_with({"a": 0.2, "b": 1.2}) == "b"
    assert winner_with({"a": 1.2, "b": 0.2}) == "a"


def test_the_jury_alone_changes_the_winner() -> None:
    prices = {"a": 0.2, "b": 0.2}

    def winner_with(score_of: dict[str, float]) -> str | None:
        bids = [make_bid("a"), make_bid("b")]
        table, winner = decide(bids, unanimous(bids, list(prices), score_of), prices)
        assert table["a"].score != table["b"].score
        return winner

    assert winner_with({"a": 2, "b": 4}) == "b"
    assert winner_with({"a": 4, "b": 2}) == "a"


# -- the three documented default-weight properties ---------------------------------------------------------------
@pytest.mark.parametrize("tokens", [1, 100, MAX_BID_TOKENS])
def test_a_unanimous_jury_overturns_a_5x_price_gap(tokens: int) -> None:
    prices = {"cheap": 0.1, "pricey": 0.5}
    bids = [make_bid("cheap", tokens=tokens), make_bid("pricey", tokens=tokens)]
    jury = unanimous(bids, list(prices), {"cheap": 0, "pricey": 5})
    table, winner = decide(bids, jury, prices)
    assert winner == "pricey"
    assert table["pricey"].C > table["cheap"].C  # it really is the more expensive plan


def test_at_equal_value_the_cheaper_plan_wins() -> None:
    # The cheaper *plan* (price x tokens), not merely the lower price: 0.3 * 60 < 0.1 * 240.
    prices = {"low_price": 0.1, "short": 0.3, "other": 0.2}
    bids = [make_bid("low_price", tokens=240), make_bid("short", tokens=60), make_bid("other", tokens=150)]
    jury = unanimous(bids, list(prices), {"low_price": 4, "short": 4, "other": 4})
    table, winner = decide(bids, jury, prices)
    assert winner == "short"
    assert table["short"].V == pytest.approx(table["low_price"].V)


def test_a_much_longer_plan_loses_to_a_short_one_at_the_same_price() -> None:
    prices = {"verbose": 0.3, "terse": 0.3, "cheapest": 0.05}
    bids = [make_bid("verbose", tokens=MAX_BID_TOKENS), make_bid("terse", tokens=40)]
    jury = unanimous(bids, list(prices), {"verbose": 4, "terse": 4})
    table, winner = decide(bids, jury, prices)
    assert winner == "terse"
    assert table["verbose"].C > table["terse"].C


def test_a_negative_entropy_weight_reverses_the_entropy_preference() -> None:
    prices = {"sure": 0.2, "unsure": 0.2}
    bids = [make_bid("sure", entropy=0.1), make_bid("unsure", entropy=1.4)]
    jury = unanimous(bids, list(prices), {"sure": 3, "unsure": 3})
    assert decide(bids, jury, prices)[1] == "unsure"
    table, winner = decide(bids, jury, prices, weights=AuctionWeights(w_entropy=-0.5))
    assert winner == "sure"
    assert table["sure"].H == pytest.approx(-0.5 * 0.1 / math.log(K))


# -- missing entropy ----------------------------------------------------------------------------------------------
def test_one_bid_without_entropy_leaves_entropy_out_for_every_bid() -> None:
    prices = {"a": 0.2, "b": 0.2, "c": 0.2}
    bids = [make_bid("a", entropy=1.5), make_bid("b", entropy=None), make_bid("c", entropy=0.1)]
    jury = unanimous(bids, list(prices), {"a": 3, "b": 3, "c": 3})
    table, _ = decide(bids, jury, prices)
    for row in table.values():
        assert row.entropy_used is False
        assert row.H == 0.0
        assert row.entropy_feature is None
        assert "b" in row.entropy_note and "left out" in row.entropy_note
        assert "a" not in row.entropy_note.split("from", 1)[1]
    assert table["a"].entropy == 1.5  # the raw value is still recorded
    # With entropy out and everything else equal, the scores tie.
    assert table["a"].score == pytest.approx(table["c"].score)


def test_entropy_bids_decide_whether_entropy_is_used() -> None:
    prices = {"a": 0.2, "b": 0.2, "late": 0.2}
    bids = [make_bid("a", entropy=1.0), make_bid("b", entropy=0.2)]
    others = [*bids, make_bid("late", entropy=None)]
    table, _ = decide(bids, [], prices, entropy_bids=others)
    assert not any(row.entropy_used for row in table.values())
    assert "late" in table["a"].entropy_note
    table, _ = decide(bids, [], prices, entropy_bids=bids)
    assert all(row.entropy_used for row in table.values())


def test_a_failed_bid_without_entropy_does_not_switch_entropy_off() -> None:
    prices = {"a": 0.2, "b": 0.2, "broken": 0.2}
    bids = [make_bid("a", entropy=1.0), make_bid("b", entropy=0.2), make_bid("broken", entropy=None, error="boom")]
    table, _ = decide(bids, [], prices)
    assert set(table) == {"a", "b"}
    assert all(row.entropy_used for row in table.values())


def test_entropy_from_a_single_alternative_is_left_out() -> None:
    prices = {"a": 0.2, "b": 0.2}
    bids = [make_bid("a", entropy=0.0, top_k=1), make_bid("b", entropy=0.7)]
    table, _ = decide(bids, [], prices)
    assert not any(row.entropy_used for row in table.values())
    assert all(row.H == 0.0 for row in table.values())


# -- the jury term ------------------------------------------------------------------------------------------------
def test_a_dropped_juror_is_rescaled_away() -> None:
    prices = {"a": 0.1, "b": 0.1, "c": 0.1}
    bid = make_bid("a")
    table, _ = decide([bid], verdicts(bid, {"a": 5, "b": 5, "c": None}), prices)
    row = table["a"]
    assert row.jury == {"a": 5.0, "b": 5.0, "c": None}
    assert row.jury_rescale == pytest.approx(1.0 / (2 / 3))
    assert row.J == pytest.approx(1.0)  # the two who answered said 5: a full jury of 5

    weights = AuctionWeights(w_jury={"a": 0.5, "b": 0.25, "c": 0.25})
    table, _ = decide([bid], verdicts(bid, {"a": 4, "b": 2, "c": None}), prices, weights=weights)
    row = table["a"]
    assert row.jury_rescale == pytest.approx(1.0 / 0.75)
    assert row.J == pytest.approx((0.5 * 4 / 5 + 0.25 * 2 / 5) / 0.75)


def test_a_juror_that_never_answered_is_rescaled_like_a_dropped_one() -> None:
    prices = {"a": 0.1, "b": 0.1, "c": 0.1}
    bid = make_bid("a")
    dropped = decide([bid], verdicts(bid, {"a": 4, "b": 2, "c": None}), prices)[0]["a"]
    missing = decide([bid], verdicts(bid, {"a": 4, "b": 2}), prices)[0]["a"]
    assert missing.J == pytest.approx(dropped.J)
    assert missing.jury_rescale == pytest.approx(1.5)


def test_a_dropped_juror_does_not_lower_a_bid_against_a_fully_judged_one() -> None:
    prices = {"a": 0.1, "b": 0.1}
    bids = [make_bid("a"), make_bid("b")]
    jury = verdicts(bids[0], {"a": 4, "b": None}) + verdicts(bids[1], {"a": 4, "b": 4})
    table, _ = decide(bids, jury, prices)
    assert table["a"].J == pytest.approx(table["b"].J)


def test_non_finite_jury_scores_count_as_dropped_and_scores_are_clamped() -> None:
    prices = {"a": 0.1, "b": 0.1}
    bid = make_bid("a")
    table, _ = decide([bid], verdicts(bid, {"a": math.nan, "b": 9.0}), prices)
    row = table["a"]
    assert row.jury == {"a": None, "b": 5.0}
    assert row.J == pytest.approx(1.0)


def test_zero_weight_jurors_are_ignored() -> None:
    prices = {"a": 0.1, "b": 0.1, "muted": 0.1}
    weights = AuctionWeights(w_jury={"muted": 0.0})
    scorer = CostValueScorer(weights)
    assert scorer.active_jurors(list(prices)) == ["a", "b"]
    bid = make_bid("a")
    with_muted = decide([bid], verdicts(bid, {"a": 3, "b": 3, "muted": 0}), prices, weights=weights)[0]["a"]
    without = decide([bid], verdicts(bid, {"a": 3, "b": 3}), prices, weights=weights)[0]["a"]
    assert "muted" not in with_muted.jury and "muted" not in with_muted.jury_weights
    assert with_muted.J == pytest.approx(without.J)
    assert with_muted.jury_rescale == pytest.approx(1.0)
    # A dropped zero-weight juror does not trigger a rescale either.
    dropped = decide([bid], verdicts(bid, {"a": 3, "b": 3, "muted": None}), prices, weights=weights)[0]["a"]
    assert dropped.jury_rescale == pytest.approx(1.0)


def test_jury_records_of_other_bids_are_ignored() -> None:
    prices = {"a": 0.1, "b": 0.1}
    bid = make_bid("a")
    stranger = make_bid("b")
    table, _ = decide([bid], verdicts(bid, {"a": 3, "b": 3}) + verdicts(stranger, {"a": 0, "b": 0}), prices)
    assert table["a"].jury == {"a": 3.0, "b": 3.0}


# -- failed bids and the breakdown --------------------------------------------------------------------------------
def test_failed_and_empty_bids_are_not_scored() -> None:
    prices = {"ok": 0.1, "raised": 0.01, "empty": 0.01, "blank": 0.01}
    bids = [make_bid("ok"), make_bid("raised", error="ConnectionError: down"), make_bid("empty", plan=""),
            make_bid("blank", plan="  \n ")]
    table, winner = decide(bids, [], prices)
    assert list(table) == ["ok"]
    assert winner == "ok"


def test_the_breakdown_terms_add_up() -> None:
    weights = AuctionWeights(w_cost=1.7, w_entropy=-0.3, w_jury={"a": 0.6, "b": 0.3, "c": 0.1})
    prices = {"a": 0.05, "b": 0.2, "c": 0.5}
    bids = [make_bid("a", tokens=120, entropy=0.9), make_bid("b", tokens=60, entropy=0.3),
            make_bid("c", tokens=250, entropy=1.1)]
    jury = (verdicts(bids[0], {"a": 5, "b": 1, "c": 2}) + verdicts(bids[1], {"a": 3, "b": None, "c": 4})
            + verdicts(bids[2], {"a": 2, "b": 2, "c": 5}))
    table, _ = decide(bids, jury, prices, weights=weights)
    reference = 0.5 * MAX_BID_TOKENS
    for bid in bids:
        row = table[bid.bidder]
        assert row.bid_id == bid.id
        assert row.price_per_mtok == prices[bid.bidder]
        assert row.plan_tokens == bid.plan_tokens
        assert row.cost_feature == pytest.approx(prices[bid.bidder] * bid.plan_tokens / reference)
        assert row.C == pytest.approx(1.7 * row.cost_feature)
        assert row.entropy_feature == pytest.approx(bid.entropy / math.log(K))
        assert row.H == pytest.approx(-0.3 * row.entropy_feature)
        answered = {j: s for j, s in row.jury.items() if s is not None}
        expected_j = row.jury_rescale * sum(row.jury_weights[j] * s / 5 for j, s in answered.items())
        assert row.J == pytest.approx(expected_j)
        assert row.jury_rescale == pytest.approx(1.0 / sum(row.jury_weights[j] for j in answered))
        assert row.V == pytest.approx(row.H + row.J)
        assert row.score == pytest.approx(row.C - row.V)


def test_the_cost_reference_is_the_pool_max_price_times_the_bid_cap() -> None:
    # A pool member that did not bid still sets the reference, so scores compare across auctions.
    prices = {"a": 0.1, "absent": 1.0}
    table, _ = decide([make_bid("a", tokens=128)], [], prices)
    assert table["a"].cost_feature == pytest.approx(0.1 * 128 / (1.0 * MAX_BID_TOKENS))


# -- weights ------------------------------------------------------------------------------------------------------
def test_juror_weights_default_to_one_over_the_pool_size() -> None:
    pool = ["x", "y", "z", "w"]
    assert AuctionWeights().juror_weights(pool) == {name: 0.25 for name in pool}
    assert list(AuctionWeights().juror_weights(pool)) == pool
    custom = AuctionWeights(w_jury={"y": 0.7}, jury_default=0.1).juror_weights(pool)
    assert custom == {"x": 0.1, "y": 0.7, "z": 0.1, "w": 0.1}


def test_weights_survive_a_json_round_trip(tmp_path) -> None:
    weights = AuctionWeights(w_cost=2.5, w_entropy=-0.75, w_jury={"tiny": 0.0, "large": 0.8}, jury_default=0.1)
    path = tmp_path / "weights.json"
    weights.save(path)
    assert json.loads(path.read_text(encoding="utf-8"))["w_entropy"] == -0.75
    assert AuctionWeights.load(path) == weights
    assert AuctionWeights.load(str(path)) == weights


def test_loading_a_missing_weights_file_names_the_field(tmp_path) -> None:
    with pytest.raises(AuctionConfigError) as info:
        AuctionWeights.load(tmp_path / "nope.json")
    assert info.value.field == "weights"


@pytest.mark.parametrize(
    "content",
    ["{not json", "", '{"w_cost": "cheap"}', '{"w_cost": 1, "surprise": 2}', '{"w_cost": 1e999}', "[1, 2]"],
)
def test_loading_invalid_weights_names_the_field(tmp_path, content: str) -> None:
    path = tmp_path / "weights.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AuctionConfigError) as info:
        AuctionWeights.load(path)
    assert info.value.field == "weights"


@pytest.mark.parametrize(
    "options",
    [
        {"w_cost": math.nan},
        {"w_cost": math.inf},
        {"w_entropy": -math.inf},
        {"jury_default": math.nan},
        {"w_jury": {"large": math.inf}},
        {"w_jury": {"large": math.nan}},
    ],
)
def test_non_finite_weights_are_rejected(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AuctionWeights(**options)  # type: ignore[arg-type]


def test_the_scorer_refuses_weights_of_the_wrong_type() -> None:
    with pytest.raises(AuctionConfigError) as info:
        CostValueScorer({"w_cost": 1.0})  # type: ignore[arg-type]
    assert info.value.field == "scorer.weights"
    assert CostValueScorer().weights == AuctionWeights()


def test_subnormal_juror_weights_are_rejected_and_zero_is_allowed() -> None:
    with pytest.raises(ValidationError, match="at least"):
        AuctionWeights(w_jury={"a": 5e-324})
    assert AuctionWeights(w_jury={"a": 0.0, "b": -1e-9}).w_jury == {"a": 0.0, "b": -1e-9}
