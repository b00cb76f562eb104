"""The learned value: per-bidder success models, the scorer that weighs them against price, and their fit."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from langgraph_sale import create_auction
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.fit_examples import FitCandidate, FitExample
from langgraph_sale.testing import fake_pool
from langgraph_sale.types import Bid, JuryScore
from langgraph_sale.value import BidderValue, ValueModel, ValueScorer, value_features
from langgraph_sale.value_ablation import ValueAblation, ablate_value, evaluate_value
from langgraph_sale.value_fit import fit_value_model, memory_rates

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


def test_the_jury_features_read_the_bidders_own_score_and_its_peers() -> None:
    features = value_features(entropy_feature=None, plan_tokens=None, task=None, bidder="small",
                              jury={"small": 5.0, "large": 2.0, "medium": 3.0, "late": None})
    assert features["self_score"] == pytest.approx(1.0) and features["peer_score"] == pytest.approx(0.5)
    alone = value_features(entropy_feature=None, plan_tokens=None, task=None, bidder="small", jury={"small": 4.0})
    assert alone["self_score"] == pytest.approx(0.8) and alone["peer_score"] is None


def test_a_model_that_reads_its_self_assessment_asks_every_juror_and_is_moved_by_it() -> None:
    # Each bidder's success rises with its own expected score of its plan.
    trusting = {name: BidderValue(intercept=0.0, coef={"self_score": 4.0}, mean={"self_score": 0.5},
                                  scale={"self_score": 0.25}) for name in PRICES}
    scorer = ValueScorer(ValueModel(features=("self_score",), bidders=trusting, w_value=2.0))
    assert scorer.active_jurors(list(PRICES)) == list(PRICES)
    bids = _bids()

    def judged(small: float, large: float) -> list[JuryScore]:
        own = {"small": small, "large": large}
        return [JuryScore(auction_id="a", juror=bid.bidder, bidder=bid.bidder, bid_id=bid.id, score=own[bid.bidder])
                for bid in bids]

    doubtful_small = scorer.score(bids, judged(small=1.0, large=5.0), prices=PRICES, max_bid_tokens=128, task="t")
    assert scorer.winner(doubtful_small, prices=PRICES, order=list(PRICES)) == "large"
    sure_small = scorer.score(bids, judged(small=5.0, large=1.0), prices=PRICES, max_bid_tokens=128, task="t")
    assert scorer.winner(sure_small, prices=PRICES, order=list(PRICES)) == "small"
    assert ValueScorer(_length_model(w_value=1.0)).active_jurors(list(PRICES)) == []


def test_the_memory_feature_is_measured_by_the_fit_and_refused_by_the_scorer() -> None:
    flat = {"coef": {"memory_rate": 1.0}, "mean": {"memory_rate": 0.5}, "scale": {"memory_rate": 0.2}}
    model = ValueModel(features=("memory_rate",), w_value=1.0, bidders={n: BidderValue(intercept=0.0, **flat)
                                                                         for n in PRICES})
    with pytest.raises(AuctionConfigError, match="memory_rate.*ablation only"):
        ValueScorer(model)
    with pytest.raises(AuctionConfigError, match="unknown features"):
        fit_value_model(_examples(20), features=("entropy", "luck"), folds=4)


def test_memory_rates_read_the_nearest_other_tasks_never_the_task_itself() -> None:
    examples = _examples(6)
    vectors = [[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]]
    filled = memory_rates(examples, vectors, k=2)
    for index, example in enumerate(filled):
        group = range(3) if index < 3 else range(3, 6)
        others = [j for j in group if j != index]
        for position, candidate in enumerate(example.candidates):
            expected = sum(examples[j].candidates[position].success for j in others) / 2
            assert candidate.memory_rate == pytest.approx(expected)
    with pytest.raises(AuctionConfigError, match="5 vectors for 6"):
        memory_rates(examples, vectors[:5])
    with pytest.raises(AuctionConfigError, match="at least 1"):
        memory_rates(examples, vectors, k=0)


def test_the_ablation_measures_each_set_and_charges_the_jury_where_a_set_reads_it() -> None:
    examples = [e.model_copy(update={"jury_cost_usd": {"small": 1e-5, "large": 2e-5}, "candidates": [
        c.model_copy(update={"jury": {"small": 3.0, "large": 4.0}}) for c in e.candidates]})
        for e in _examples(40)]
    plain = ablate_value(examples, folds=4)
    assert [row.name for row in plain.rows] == ["bid", "self", "peer", "bid + self", "bid + jury"]
    assert plain.memory_k is None and set(plain.reference) == {"always_largest", "always_cheapest", "oracle"}
    by_name = {row.name: row for row in plain.rows}
    bid, self_only = by_name["bid"], by_name["self"]
    assert bid.auc_gain is not None and bid.auc_gain > 0.8  # the length feature finds who gains
    # A constant self-assessment cannot tell tasks apart, and its jury is paid for on every task.
    jury_usd = 40 * 3e-5
    executions = sum(e.candidates[0 if self_only.w_value == 0 else 1].cost_usd for e in examples)
    assert self_only.routing.total_cost_usd >= jury_usd + min(executions, 40 * 1e-5) - 1e-12
    assert self_only.routing.mean_loss > bid.routing.mean_loss
    with_memory = ablate_value(memory_rates(examples, [[float(i % 2), 1.0] for i in range(40)], k=3), folds=4,
                               memory_k=3)
    assert "bid + memory" in [row.name for row in with_memory.rows] and with_memory.memory_k == 3


def test_the_committed_value_model_and_ablation_are_what_the_record_gives(tmp_path: Path) -> None:
    # The records replayed offline, then the same fits and measurements as the committed files: every figure of
    # docs/method.md §6.3 and the learned value's line of the held-out verdict (docs/RESULTS.md).
    from langgraph_sale.bench.fitdata import fit_examples
    from langgraph_sale.bench.publish import load_spec, replay

    run = replay(load_spec()["coding80-steps"], tmp_path)
    committed = ValueModel.load("docs/results/weights/coding80-steps-value.json")
    refitted = fit_value_model(fit_examples(run, split="train"), folds=committed.fitted["folds"])  # type: ignore[arg-type]
    _assert_close(json.loads(refitted.model.model_dump_json()), json.loads(committed.model_dump_json()))
    on_dev = ValueAblation.load("docs/results/weights/coding80-steps-value-dev.json")
    _assert_close(json.loads(evaluate_value(committed, fit_examples(run, split="dev")).model_dump_json()),
                  json.loads(on_dev.model_dump_json()))
    held_out_run = replay(load_spec()["holdout-coding"], tmp_path)
    on_holdout = ValueAblation.load("docs/results/weights/holdout-coding-value.json")
    _assert_close(json.loads(evaluate_value(committed, fit_examples(held_out_run, split="all")).model_dump_json()),
                  json.loads(on_holdout.model_dump_json()))
    ablation = ValueAblation.load("docs/results/weights/coding80-steps-value-ablation.json")
    again = ablate_value(fit_examples(run, split="all", memory_k=ablation.memory_k), folds=ablation.folds,
                         memory_k=ablation.memory_k)
    _assert_close(json.loads(again.model_dump_json()), json.loads(ablation.model_dump_json()))


def _assert_close(got: object, want: object, where: str = "") -> None:
    """Equal JSON, floats to 1e-6 relative (the solver's last digits may differ between machines)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            _assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for index, (a, b) in enumerate(zip(got, want, strict=True)):
            _assert_close(a, b, f"{where}[{index}]")
    elif isinstance(want, float) and not isinstance(got, bool):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-12), where
    else:
        assert got == want, where


def test_the_command_line_ablation_names_what_it_cannot_do(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from langgraph_sale.cli import main as cli_main

    examples = tmp_path / "examples.jsonl"
    examples.write_text("".join(e.model_dump_json() + "\n" for e in _examples(10)))
    assert cli_main(["fit", str(examples), "--value", "--ablation", "--memory-k", "3", "--out",
                     str(tmp_path / "a")]) != 0
    assert "--memory-k: needs --from-bench" in capsys.readouterr().err
    assert cli_main(["fit", str(examples), "--value", "--ablation", "--features", "entropy", "--out",
                     str(tmp_path / "a")]) != 0
    assert "--features: --ablation fits its own" in capsys.readouterr().err
    assert cli_main(["fit", str(examples), "--value", "--ablation", "--folds", "2", "--out",
                     str(tmp_path / "a.json")]) == 0
    assert [row.name for row in ValueAblation.load(tmp_path / "a.json").rows][0] == "bid"


def test_a_fitted_model_is_measured_on_tasks_it_never_saw(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from langgraph_sale.cli import main as cli_main

    fitted = fit_value_model(_examples(60), folds=5)
    unseen = _examples(40, seed=3)
    measured = evaluate_value(fitted.model, unseen)
    (row,) = measured.rows
    assert measured.folds == 0 and measured.tasks == 40 and measured.lam == fitted.lam
    assert row.auc_gain is not None and row.auc_gain > 0.8  # the length rule holds on new tasks too
    assert row.routing.mean_loss < measured.reference["always_largest"].mean_loss
    model_file, examples_file, out = tmp_path / "value.json", tmp_path / "unseen.jsonl", tmp_path / "eval.json"
    fitted.model.save(model_file)
    examples_file.write_text("".join(e.model_dump_json() + "\n" for e in unseen))
    assert cli_main(["fit", str(examples_file), "--value", "--evaluate", str(model_file), "--out", str(out)]) == 0
    assert "measured on 40 tasks it was not fitted on" in capsys.readouterr().out
    assert ValueAblation.load(out) == measured
    other = [e.model_copy(update={"candidates": [c.model_copy(update={"bidder": "medium"}) for c in e.candidates[:1]]
                                  + e.candidates[1:]}) for e in unseen]
    with pytest.raises(AuctionConfigError, match="'medium'.*not the model's"):
        evaluate_value(fitted.model, other)
