"""The learned value: per-bidder success models, the scorer that weighs them against price, and their fit."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from langgraph_sale import create_auction
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.fit import FitCandidate, FitExample
from langgraph_sale.testing import fake_pool
from langgraph_sale.types import Bid
from langgraph_sale.value import BidderValue, ValueModel, ValueScorer
from langgraph_sale.value_fit import fit_value_model

PRICES = {"small": 0.1, "large": 0.3}


def _length_model(w_value: float) -> ValueModel:
    # The small model's success falls with the task's length; the large one's barely does.
    small = BidderValue(intercept=0.0, coef={"task_chars": -2.0}, mean={"task_chars": 4.0},
                        scale={"task_chars": 1.0})
    large = BidderValue(intercept=1.5, coef={"task_chars": -0.2}, mean={"task_chars": 4.0},
                        scale={"task_chars": 1.0})
    return ValueModel(features=("task_chars",), bidders={"small": small, "large": large}, w_value=w_value)


def _bids() -> list[Bid]:
    return [Bid(auction_id="a", bidder=name, plan="1. Do it.", plan_tokens=9) for name in PRICES]


@pytest.mark.parametrize(("task", "winner"), [("x" * 10, "small"), ("x" * 2000, "large")])
def test_the_dearer_bidder_wins_only_where_its_predicted_gain_beats_the_price_gap(task: str, winner: str) -> None:
    scorer = ValueScorer(_length_model(w_value=2.0))
    table = scorer.score(_bids(), [], prices=PRICES, max_bid_tokens=128, task=task)
    assert scorer.winner(table, prices=PRICES, order=list(PRICES)) == winner
    for row in table.values():
        assert row.C == pytest.approx(PRICES[row.bidder] / 0.3)
        assert row.V == pytest.approx(2.0 * row.success_probability)
        assert row.score == pytest.approx(row.C - row.V)
    gain = table["large"].success_probability - table["small"].success_probability
    assert (winner == "large") == (2.0 * gain > 1 - 0.1 / 0.3)


def test_with_no_value_weight_price_alone_decides() -> None:
    scorer = ValueScorer(_length_model(w_value=0.0))
    table = scorer.score(_bids(), [], prices=PRICES, max_bid_tokens=128, task="x" * 5000)
    assert scorer.winner(table, prices=PRICES, order=list(PRICES)) == "small"


def test_an_auction_with_the_learned_value_asks_no_juror_and_records_the_prediction() -> None:
    pool = fake_pool()
    names = [bidder.name for bidder in pool]
    flat = {"coef": {}, "mean": {}, "scale": {}}
    model = ValueModel(bidders={name: BidderValue(intercept=float(i), **flat) for i, name in enumerate(names)},
                       w_value=10.0)
    app = create_auction(pool, scorer=ValueScorer(model), route="decide").compile()
    outcome = app.invoke({"auction_task": "Write a function that adds two numbers."})["auction_outcome"]
    assert outcome["jury"] == []
    assert outcome["winner"] == names[-1]  # a much higher predicted success, worth ten times the top price
    assert all(bid["breakdown"]["success_probability"] is not None for bid in outcome["bids"])


def test_a_bidder_the_model_does_not_know_is_a_config_error_naming_it() -> None:
    scorer = ValueScorer(_length_model(w_value=1.0))
    bids = [*_bids(), Bid(auction_id="a", bidder="medium", plan="1. Do it.", plan_tokens=9)]
    with pytest.raises(AuctionConfigError, match="medium"):
        scorer.score(bids, [], prices={**PRICES, "medium": 0.2}, max_bid_tokens=128, task="x")


def _examples(count: int, seed: int = 0) -> list[FitExample]:
    # The small bidder passes short tasks; the large one passes nine tasks in ten, short or long; the rest is noise.
    rng = random.Random(seed)
    examples = []
    for index in range(count):
        chars = rng.randint(50, 3000)
        examples.append(FitExample(task_id=f"t{index}", task_chars=chars, candidates=[
            FitCandidate(bidder="small", cost_feature=0.1, entropy_feature=rng.random(),
                         plan_tokens=rng.randint(20, 80), success=chars < 900, cost_usd=1e-5, price_per_mtok=0.1),
            FitCandidate(bidder="large", cost_feature=0.3, entropy_feature=rng.random(),
                         plan_tokens=rng.randint(20, 80), success=index % 10 != 0, cost_usd=3e-5,
                         price_per_mtok=0.3)]))
    return examples


def test_the_fit_finds_who_gains_and_routes_only_those_tasks_up() -> None:
    fitted = fit_value_model(_examples(60), folds=5)
    assert fitted.auc_gain is not None and fitted.auc_gain > 0.8
    assert fitted.model.bidders["small"].coef["task_chars"] < 0
    value, cheap, large = (fitted.routing[k] for k in ("value", "always_cheapest", "always_largest"))
    assert value.mean_loss < min(cheap.mean_loss, large.mean_loss)
    assert 0 < value.picks.get("large", 0) < 60
    assert fitted.model.fitted["tasks"] == 60 and fitted.model.w_value > 0


def test_the_reported_figures_are_out_of_fold() -> None:
    # Labels that are coin flips: a model fitted on them reads noise, and the cross-fitted AUC says so.
    examples = _examples(80, seed=1)
    rng = random.Random(7)
    noisy = [e.model_copy(update={"candidates": [c.model_copy(update={"success": rng.random() < 0.5})
                                                 for c in e.candidates]}) for e in examples]
    fitted = fit_value_model(noisy, folds=5)
    assert all(area is not None and area < 0.7 for area in fitted.auc_success.values())


def test_the_fit_refuses_what_it_cannot_use() -> None:
    examples = _examples(10)
    with pytest.raises(AuctionConfigError, match="at least 5"):
        fit_value_model(examples[:3], folds=5)
    unpriced = [examples[0].model_copy(update={"candidates": [c.model_copy(update={"price_per_mtok": None})
                                                              for c in examples[0].candidates]}), *examples[1:]]
    with pytest.raises(AuctionConfigError, match="price_per_mtok"):
        fit_value_model(unpriced, folds=5)


def test_a_value_model_round_trips_and_a_bad_file_is_named(tmp_path: Path) -> None:
    model = _length_model(w_value=1.5)
    path = tmp_path / "value.json"
    model.save(path)
    assert ValueModel.load(path) == model
    path.write_text(json.dumps({"bidders": {}, "w_value": 1.0}))
    with pytest.raises(AuctionConfigError, match=str(path)):
        ValueModel.load(path)
    with pytest.raises(AuctionConfigError, match="no value model"):
        ValueModel.load(tmp_path / "missing.json")


def test_the_bench_fits_a_value_model_and_runs_sale_value_with_it(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from langgraph_sale.bench.runner import BenchConfig, run_bench
    from langgraph_sale.cli import main as cli_main

    def bench(folder: str, methods: tuple[str, ...], **options: object) -> list[dict[str, object]]:
        config = BenchConfig(out=tmp_path / folder, domains=("coding",), methods=methods, orders=1, progress=False,
                             **options)
        assert run_bench(config, echo=lambda text: None).status == "complete"
        rows = (tmp_path / folder / "rows.jsonl").read_text().splitlines()
        return [row for row in map(json.loads, rows) if "task_id" in row]

    bench("train", ("alone", "sale_nomem"))
    value = tmp_path / "value.json"
    assert cli_main(["fit", "--from-bench", str(tmp_path / "train"), "--split", "all", "--value", "--folds", "3",
                     "--out", str(value)]) == 0
    printed = capsys.readouterr().out
    assert "6 tasks, 3-fold cross-fitted" in printed and "gain (the largest succeeds" in printed
    model = ValueModel.load(value)
    assert set(model.bidders) == {"small", "medium", "large"} and model.fitted["tasks"] == 6
    rows = bench("value", ("sale_value",), value=value)
    assert len(rows) == 6
    for row in rows:
        bids = row["extra"]["bids"]  # type: ignore[index]
        assert all(0.0 <= bid["success_probability"] <= 1.0 for bid in bids)
        assert row["tokens"].get("jury", 0) == 0 and row["tokens"]["bid"] > 0  # type: ignore[attr-defined,index]
    fingerprint = json.loads((tmp_path / "value" / "meta.json").read_text())["fingerprint"]
    assert fingerprint["value"]["w_value"] == model.w_value
    with pytest.raises(AuctionConfigError, match="--value"):
        bench("no-model", ("sale_value",))
