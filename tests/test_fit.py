"""Weights fitted from outcomes: synthetic tasks whose best weights are known, the scorer reproducing the fit, the
degenerate zero weights, the CLI round trip, and clear errors on bad input."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from langgraph_sale.cli import main
from langgraph_sale.errors import AuctionConfigError, AuctionInputError
from langgraph_sale.fit import choose, fit_weights, score_example
from langgraph_sale.fit_examples import FitCandidate, FitExample, example_from_scores, load_examples
from langgraph_sale.scoring import AuctionWeights, CostValueScorer
from langgraph_sale.types import Bid, JuryScore

CAP = 150  # max_bid_tokens
PRICES = {"small": 0.1, "mid": 0.2, "large": 0.5}
TIME_LIMIT = 10.0


def candidate(name: str, *, tokens: int, success: bool, entropy: float | None = None,
              jury: dict[str, float | None] | None = None, pool: tuple[str, ...] = ("small", "large"),
              exec_tokens: int | None = None) -> FitCandidate:
    price = PRICES[name]
    reference = max(PRICES[p] for p in pool) * CAP
    return FitCandidate(bidder=name, price_per_mtok=price, cost_feature=price * tokens / reference,
                        entropy_feature=entropy, jury=jury or {}, success=success,
                        cost_usd=price * (exec_tokens if exec_tokens is not None else 10 * tokens) / 1e6)


def oracle_bidders(examples: list[FitExample], lam: float) -> list[str]:
    picks = []
    for example in examples:
        losses = example.losses(lam)
        picks.append(example.candidates[min(example.tie_order(), key=lambda i: losses[i])].bidder)
    return picks


# -- (a) one juror predicts success, the other is noise --------------------------------------------------------
def juror_examples(seed: int = 1, tasks: int = 24) -> list[FitExample]:
    rng = random.Random(seed)
    examples = []
    for t in range(tasks):
        cands = []
        for name, p_success in (("small", 0.5), ("large", 0.85)):
            ok = rng.random() < p_success
            jury = {"large": float(rng.choice([4, 5]) if ok else rng.choice([0, 1])),  # perfect juror
                    "small": float(rng.randint(0, 5))}  # noise
            cands.append(candidate(name, tokens=rng.randint(120, CAP), success=ok, jury=jury))
        examples.append(FitExample(task_id=f"a{t}", candidates=cands))
    return examples


def test_noisy_juror_gets_zero_weight_and_the_fit_picks_the_successful_bidders() -> None:
    examples = juror_examples()
    result = fit_weights(examples, time_limit=TIME_LIMIT)
    assert result.optimal and result.consistent, result.status
    assert result.weights.w_jury["small"] == 0.0
    assert result.weights.w_jury["large"] == pytest.approx(1.0)
    assert result.weights.w_entropy == 0.0  # no entropy in these auctions
    assert 0.0 < result.weights.w_cost < 1.0  # cost decides between two equally judged plans
    assert result.chosen == oracle_bidders(examples, result.lam)
    fitted, largest = result.summaries["fitted"], result.summaries["always_largest"]
    assert fitted.pass_rate == result.summaries["oracle"].pass_rate >= largest.pass_rate
    assert fitted.total_cost_usd < largest.total_cost_usd
    # The default weights (every juror trusted alike) do worse on the same tasks.
    default = [e.candidates[choose(AuctionWeights(), e)].bidder for e in examples]
    assert default != result.chosen


def with_jury_cost(examples: list[FitExample], cost: dict[str, float]) -> list[FitExample]:
    return [FitExample.model_validate({**e.model_dump(), "jury_cost_usd": cost}) for e in examples]


@pytest.mark.parametrize("objective", ["minmax", "mean"])
def test_a_juror_whose_calls_cost_more_than_they_save_gets_no_weight(objective: Any) -> None:
    free = juror_examples()
    trusted = fit_weights(free, objective=objective, time_limit=TIME_LIMIT)
    assert trusted.weights.w_jury["large"] > 0.0
    execution = max(c.cost_usd for e in free for c in e.candidates)

    # Cheap calls: the perfect juror is still worth asking, and its calls are on the fitted routing's bill.
    calls = execution / 1000
    cheap = fit_weights(with_jury_cost(free, {"large": calls, "small": calls}), objective=objective,
                        time_limit=TIME_LIMIT)
    assert cheap.optimal and cheap.consistent, cheap.status
    assert cheap.weights.w_jury == trusted.weights.w_jury and cheap.chosen == trusted.chosen
    assert cheap.summaries["fitted"].total_cost_usd == pytest.approx(
        trusted.summaries["fitted"].total_cost_usd + len(free) * calls)
    assert cheap.summaries["oracle"] == trusted.summaries["oracle"]  # asks no juror

    # Calls dearer than any execution: no juror is worth its price, so none gets a weight (and none is asked).
    calls = 3 * execution
    dear = fit_weights(with_jury_cost(free, {"large": calls, "small": calls}), objective=objective,
                       time_limit=TIME_LIMIT)
    assert dear.optimal and dear.consistent, dear.status
    assert dear.weights.w_jury == {"small": 0.0, "large": 0.0}
    assert dear.summaries["fitted"].total_cost_usd < trusted.summaries["fitted"].total_cost_usd + len(free) * calls


# -- (b) entropy anti-correlates with success --------------------------------------------------------------------
def entropy_examples(seed: int = 2, tasks: int = 18) -> list[FitExample]:
    rng = random.Random(seed)
    pool = ("small", "mid", "large")
    examples = []
    for t in range(tasks):
        winner = rng.choice(pool)  # exactly one bidder succeeds, and its plan is the confident one
        cands = [candidate(name, tokens=rng.randint(100, CAP), success=name == winner, pool=pool,
                           entropy=rng.uniform(0.1, 0.3) if name == winner else rng.uniform(0.5, 0.9))
                 for name in pool]
        examples.append(FitExample(task_id=f"b{t}", candidates=cands))
    return examples


def test_entropy_that_anticorrelates_with_success_gets_a_negative_weight() -> None:
    examples = entropy_examples()
    result = fit_weights(examples, time_limit=TIME_LIMIT)
    assert result.optimal and result.consistent, result.status
    # score = C - V with V = w_entropy * H: a negative weight makes low entropy lower the score, i.e. win.
    assert result.weights.w_entropy < 0.0
    assert result.summaries["fitted"].pass_rate == 1.0
    assert result.chosen == oracle_bidders(examples, result.lam)
    paper_sign = [e.candidates[choose(AuctionWeights(w_cost=0.0, w_entropy=1.0), e)].success for e in examples]
    assert not any(paper_sign)  # the paper's positive sign picks a failing plan every time


# -- (c) the cheaper bidder succeeds equally ---------------------------------------------------------------------
def cost_examples(seed: int = 3, tasks: int = 16) -> list[FitExample]:
    rng = random.Random(seed)
    pool = ("small", "mid")
    examples = []
    for t in range(tasks):
        # The per-token cheaper bidder sometimes writes (and runs) so much more that it costs more in dollars.
        small_tokens = rng.choice([rng.randint(20, 60), rng.randint(120, CAP)])
        mid_tokens = rng.randint(30, 70)
        cands = [candidate(name, tokens=tokens, success=True, pool=pool, entropy=rng.uniform(0.2, 0.8),
                           jury={"small": float(rng.randint(2, 5)), "mid": float(rng.randint(2, 5))})
                 for name, tokens in (("small", small_tokens), ("mid", mid_tokens))]
        examples.append(FitExample(task_id=f"c{t}", candidates=cands))
    return examples


def test_cost_weight_keeps_the_cheaper_bidder_when_both_succeed() -> None:
    examples = cost_examples()
    result = fit_weights(examples, time_limit=TIME_LIMIT)
    assert result.optimal and result.consistent, result.status
    assert result.weights.w_cost == pytest.approx(1.0)
    assert result.weights.w_entropy == 0.0
    assert set(result.weights.w_jury.values()) == {0.0}
    cheapest = [min(e.candidates, key=lambda c: c.cost_usd).bidder for e in examples]
    assert result.chosen == cheapest
    assert "mid" in cheapest and "small" in cheapest  # price order alone (zero weights) would not do
    assert result.summaries["fitted"].total_cost_usd < result.summaries["always_cheapest"].total_cost_usd


# -- missing jury scores -----------------------------------------------------------------------------------------
def test_dropped_scores_of_the_noisy_juror_still_fit_exactly() -> None:
    examples = juror_examples(seed=3)
    rng = random.Random(3)
    for example in examples:
        rng.choice(example.candidates).jury["small"] = None  # the noise juror failed to answer once per task
    result = fit_weights(examples, time_limit=TIME_LIMIT)
    assert result.consistent, result.status
    assert result.weights.w_jury["small"] == 0.0
    assert result.chosen == oracle_bidders(examples, result.lam)


def test_dropped_scores_of_the_trusted_juror_are_reported_honestly() -> None:
    examples = juror_examples(seed=4)
    rng = random.Random(4)
    for example in examples:
        rng.choice(example.candidates).jury[rng.choice(["small", "large"])] = None
    result = fit_weights(examples, time_limit=TIME_LIMIT)
    # Whatever the program concluded, the figures are the scorer's own, and never worse than zero weights.
    assert result.chosen == [e.candidates[choose(result.weights, e)].bidder for e in examples]
    value = result.Q + 1e-3 * result.mean_loss
    cheapest = result.summaries["always_cheapest"]
    assert value <= cheapest.worst_loss + 1e-3 * cheapest.mean_loss + 1e-12
    assert result.summaries["fitted"].passed > cheapest.passed


# -- well posed: zero weights are no loophole --------------------------------------------------------------------
def test_indistinguishable_bids_get_the_tie_rule_not_the_oracle() -> None:
    rng = random.Random(4)
    examples = []
    for t in range(8):
        jury = {"small": 3.0, "large": 4.0}
        cands = [FitCandidate(bidder=name, price_per_mtok=PRICES[name], cost_feature=0.5, entropy_feature=0.4,
                              jury=jury, success=rng.random() < 0.5, cost_usd=1e-5) for name in ("large", "small")]
        examples.append(FitExample(task_id=str(t), candidates=cands))
    result = fit_weights(examples, time_limit=TIME_LIMIT)
    assert result.consistent
    # No weights can tell the bids apart, so the scorer's tie rule (cheaper first) decides every task, and the
    # fit reports that routing's loss rather than the oracle's.
    assert result.chosen == ["small"] * 8
    assert result.Q == result.summaries["always_cheapest"].worst_loss
    assert result.summaries["oracle"].passed > result.summaries["fitted"].passed
    assert result.weights.w_cost == result.weights.w_entropy == 0.0


# -- (d) the scorer reproduces the fit ---------------------------------------------------------------------------
def auctions(seed: int = 5, tasks: int = 12) -> list[tuple[list[Bid], list[JuryScore], dict[str, bool]]]:
    """Raw auctions over three bidders: the large juror's score and low entropy predict success."""
    rng = random.Random(seed)
    out = []
    for t in range(tasks):
        bids, jury, success = [], [], {}
        for name in PRICES:
            good = rng.random() < {"small": 0.4, "mid": 0.6, "large": 0.8}[name]
            bid = Bid(auction_id=f"d{t}", bidder=name, plan="1. plan", plan_tokens=rng.randint(60, CAP),
                      entropy=rng.uniform(0.3, 0.6) if good else rng.uniform(0.7, 1.2), entropy_top_k=5)
            bids.append(bid)
            success[name] = good
            for juror in PRICES:
                score = (4.0 if good else 2.0) if juror == "large" else float(rng.randint(0, 5))
                jury.append(JuryScore(auction_id=f"d{t}", juror=juror, bidder=name, bid_id=bid.id, score=score))
        out.append((bids, jury, success))
    return out


def test_fitted_weights_loaded_by_the_scorer_reproduce_the_chosen_bidders(tmp_path: Path) -> None:
    recorded = auctions()
    default = CostValueScorer()
    examples = []
    for t, (bids, jury, success) in enumerate(recorded):
        table = default.score(bids, jury, prices=PRICES, max_bid_tokens=CAP)
        outcomes = {name: (success[name], PRICES[name] * 2000 / 1e6) for name in PRICES}
        examples.append(example_from_scores({k: v.to_state() for k, v in table.items()}, outcomes,
                                            task_id=f"d{t}", order=list(PRICES)))
    result = fit_weights(examples, time_limit=TIME_LIMIT)
    assert result.consistent, result.status
    result.weights.save(tmp_path / "weights.json")
    scorer = CostValueScorer(AuctionWeights.load(tmp_path / "weights.json"))
    winners = []
    for bids, jury, _ in recorded:
        table = scorer.score(bids, jury, prices=PRICES, max_bid_tokens=CAP)
        winners.append(scorer.winner(table, prices=PRICES, order=list(PRICES)))
    assert winners == result.chosen
    assert result.summaries["fitted"].mean_loss <= result.summaries["always_largest"].mean_loss
    default_winners = [default.winner(default.score(b, j, prices=PRICES, max_bid_tokens=CAP), prices=PRICES,
                                      order=list(PRICES)) for b, j, _ in recorded]
    default_passed = sum(s[w] for (_, _, s), w in zip(recorded, default_winners, strict=True) if w)
    assert result.summaries["fitted"].passed > default_passed


@pytest.mark.parametrize("seed", range(6))
def test_score_example_matches_the_scorer_with_missing_entropy_and_dropped_jurors(seed: int) -> None:
    rng = random.Random(seed)
    bids, jury = [], []
    for name in PRICES:
        entropy = None if (seed % 2 and name == "mid") else rng.uniform(0.1, 1.5)
        bid = Bid(auction_id="x", bidder=name, plan="p", plan_tokens=rng.randint(1, CAP), entropy=entropy,
                  entropy_top_k=5 if entropy is not None else None)
        bids.append(bid)
        for juror in PRICES:
            score = None if rng.random() < 0.3 else float(rng.randint(0, 5))
            jury.append(JuryScore(auction_id="x", juror=juror, bidder=name, bid_id=bid.id, score=score))
    table = CostValueScorer().score(bids, jury, prices=PRICES, max_bid_tokens=CAP)
    example = example_from_scores(table, {name: (True, 0.0) for name in PRICES})
    weights = AuctionWeights(w_cost=rng.uniform(0, 2), w_entropy=rng.uniform(-1, 1),
                             w_jury={name: rng.choice([0.0, rng.uniform(-1, 1)]) for name in PRICES})
    scorer = CostValueScorer(weights)
    expected = scorer.score(bids, jury, prices=PRICES, max_bid_tokens=CAP)
    assert score_example(weights, example) == pytest.approx([expected[n].score for n in PRICES], abs=1e-12)
    winner = scorer.winner(expected, prices=PRICES, order=list(PRICES))
    assert example.candidates[choose(weights, example)].bidder == winner


def test_minmax_protects_the_worst_task_and_mean_the_average() -> None:
    rng = random.Random(6)
    examples = []
    for t in range(10):
        cands = [candidate(name, tokens=rng.randint(40, CAP), success=rng.random() < 0.6,
                           entropy=rng.uniform(0.1, 0.9), jury={"large": float(rng.randint(0, 5))})
                 for name in ("small", "large")]
        examples.append(FitExample(task_id=str(t), candidates=cands))
    minmax = fit_weights(examples, time_limit=TIME_LIMIT)
    mean = fit_weights(examples, objective="mean", time_limit=TIME_LIMIT)
    assert minmax.consistent and mean.consistent
    assert minmax.Q <= mean.Q + 1e-9
    assert mean.mean_loss <= minmax.mean_loss + 1e-9
    for result in (minmax, mean):
        assert result.summaries["oracle"].mean_loss <= result.mean_loss


# -- (e) the CLI ---------------------------------------------------------------------------------------------------
def write_jsonl(path: Path, examples: list[FitExample]) -> Path:
    path.write_text("".join(e.model_dump_json() + "\n" for e in examples), encoding="utf-8")
    return path


def test_cli_fit_writes_weights_the_scorer_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = juror_examples(tasks=12)
    source = write_jsonl(tmp_path / "examples.jsonl", examples)
    out = tmp_path / "weights.json"
    assert main(["fit", str(source), "--out", str(out), "--time-limit", str(TIME_LIMIT)]) == 0
    loaded = AuctionWeights.load(out)
    assert loaded == fit_weights(load_examples(source), time_limit=TIME_LIMIT).weights
    assert loaded.w_jury["small"] == 0.0
    printed = capsys.readouterr().out
    for part in ("w_cost", "always largest", "oracle", "fitted", "pass", str(out)):
        assert part in printed


def test_cli_fit_paper_program_leaves_the_jurors_calls_uncharged(tmp_path: Path) -> None:
    # Jurors whose calls cost more than any execution: the fit (charged) drops them; the paper's program does not
    # see the calls and keeps the perfect juror, exactly as a fit of the same tasks without the costs.
    free = juror_examples(tasks=12)
    calls = 3 * max(c.cost_usd for e in free for c in e.candidates)
    source = write_jsonl(tmp_path / "examples.jsonl", with_jury_cost(free, {"large": calls, "small": calls}))
    charged, paper = tmp_path / "charged.json", tmp_path / "paper.json"
    assert main(["fit", str(source), "--out", str(charged), "--time-limit", str(TIME_LIMIT)]) == 0
    assert main(["fit", str(source), "--out", str(paper), "--paper-program", "--time-limit", str(TIME_LIMIT)]) == 0
    assert AuctionWeights.load(charged).w_jury == {"small": 0.0, "large": 0.0}
    assert AuctionWeights.load(paper) == fit_weights(free, time_limit=TIME_LIMIT).weights
    assert AuctionWeights.load(paper).w_jury["large"] > 0.0


def test_cli_fit_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "examples.json"
    source.write_text(json.dumps({"examples": [e.model_dump() for e in entropy_examples(tasks=6)]}),
                      encoding="utf-8")
    out = tmp_path / "w.json"
    assert main(["fit", str(source), "--out", str(out), "--lam", "1000", "--bound", "2", "--objective", "mean",
                 "--free-juror-sign", "--time-limit", "5"]) == 0
    weights = AuctionWeights.load(out)
    assert max(abs(w) for w in (weights.w_cost, weights.w_entropy, *weights.w_jury.values())) == pytest.approx(2.0)
    assert weights.w_entropy < 0
    assert "lam 1000" in capsys.readouterr().out


def test_cli_without_a_command_shows_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "fit" in capsys.readouterr().err


# -- (f) bad input -----------------------------------------------------------------------------------------------
GOOD = {"bidder": "small", "cost_feature": 0.1, "success": True, "cost_usd": 1e-5}


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"candidates": [{k: v for k, v in GOOD.items() if k != "cost_feature"}]}, "candidates[0].cost_feature"),
        ({"candidates": [GOOD, {**GOOD, "bidder": "large", "cost_usd": "cheap"}]}, "candidates[1].cost_usd"),
        ({"candidates": [{**GOOD, "jury": {"small": 7}}]}, "candidates[0].jury.small"),
        ({"candidates": [{**GOOD, "jury": {"judge": 3}}]}, "candidates[0].jury"),
        ({"candidates": [GOOD, GOOD]}, "candidates[1].bidder"),
        ({"candidates": [{**GOOD, "cost_feature": -1}]}, "candidates[0].cost_feature"),
        ({"candidates": []}, "candidates"),
        ({"candidates": [{**GOOD, "succes": True}]}, "candidates[0].succes"),
        ({"candidates": [GOOD], "jury_cost_usd": {"judge": 1e-6}}, "jury_cost_usd"),
        ({"candidates": [GOOD], "jury_cost_usd": {"small": -1e-6}}, "jury_cost_usd.small"),
    ],
)
def test_bad_examples_name_the_field_and_line(tmp_path: Path, line: dict[str, Any], field: str) -> None:
    good_line = json.dumps({"task_id": "ok", "candidates": [GOOD]})
    source = tmp_path / "bad.jsonl"
    source.write_text(f"{good_line}\n\n{json.dumps(line)}\n", encoding="utf-8")
    with pytest.raises(AuctionInputError) as caught:
        load_examples(source)
    assert field in str(caught.value)
    assert "line 3" in str(caught.value)


def test_unreadable_files_give_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(AuctionInputError, match="no examples file"):
        load_examples(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(AuctionInputError, match="empty"):
        load_examples(tmp_path / "empty.jsonl")
    (tmp_path / "broken.jsonl").write_text('{"candidates": []}\n{not json\n', encoding="utf-8")
    with pytest.raises(AuctionInputError, match="line 2: not valid JSON"):
        load_examples(tmp_path / "broken.jsonl")
    assert main(["fit", str(tmp_path / "broken.jsonl"), "--out", str(tmp_path / "w.json")]) == 2
    assert "line 2" in capsys.readouterr().err
    assert not (tmp_path / "w.json").exists()


@pytest.mark.parametrize(
    ("options", "field"),
    [({"lam": -1.0}, "fit.lam"), ({"bound": 0.0}, "fit.bound"), ({"margin": 1.5}, "fit.margin"),
     ({"M": 1e-6}, "fit.M"), ({"objective": "median"}, "fit.objective"), ({"time_limit": math.inf}, "fit.time_limit")],
)
def test_bad_options_name_the_option(options: dict[str, Any], field: str) -> None:
    with pytest.raises(AuctionConfigError) as caught:
        fit_weights(juror_examples(tasks=2), **options)
    assert caught.value.field == field


def test_helper_errors_name_the_bidder() -> None:
    table = CostValueScorer().score(
        [Bid(auction_id="a", bidder=name, plan="p", plan_tokens=10) for name in ("small", "large")], [],
        prices={"small": 0.1, "large": 0.5}, max_bid_tokens=CAP)
    with pytest.raises(AuctionInputError) as caught:
        example_from_scores(table, {"small": (True, 1e-5)})
    assert caught.value.field == "outcomes.large"
    with pytest.raises(AuctionInputError) as caught:
        example_from_scores(table, {"small": (True, 1e-5), "large": (None, 1e-5)})
    assert caught.value.field == "candidates[1].success"
    with pytest.raises(AuctionInputError, match="no training examples"):
        fit_weights([])


def test_shipped_local_weights_are_per_domain_and_an_unknown_domain_is_named() -> None:
    from langgraph_sale.local import local_weights

    coding, search = local_weights(), local_weights("search")
    assert coding == local_weights("coding") and coding != search
    # Both fits dropped the jury: a zero-weight juror is never asked, so the auction costs its bids only.
    for weights in (coding, search):
        assert sum(weights.w_jury.values()) == 0 and weights.jury_default == 0
    with pytest.raises(AuctionConfigError, match="domain: must be one of coding, search, got 'ocr'"):
        local_weights("ocr")
