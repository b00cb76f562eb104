"""Fitting the learned value (`langgraph_sale.value`) on bidders' outcomes, with scikit-learn (the `fit` extra).

From training tasks on which every bidder bid and executed once (`langgraph_sale.fit_examples.FitExample`, as
`langgraph_sale.bench.fitdata` makes them from a bench run), `fit_value_model`:

1. fits one L2-regularised logistic regression per bidder on its standardised features (`VALUE_FEATURES`; a
   feature missing for a bid is read at the training mean);
2. **cross-fits**: over `folds` folds of the tasks, each task's probabilities come from models fitted without it,
   and every figure it reports (the AUCs, the calibration, the routing) is measured on those out-of-fold
   probabilities, never on the tasks a model saw;
3. chooses `w_value`, the scorer's exchange rate between success probability and price, as the value on a grid
   whose routing of the out-of-fold probabilities has the lowest mean loss `lam * cost_usd - success` (the loss of
   `langgraph_sale.fit`; ties go to the smaller weight, which sends fewer tasks to dearer bidders);
4. refits each bidder's model on every task and returns it with `w_value` and what was measured.

The AUC that matters is the **gain**'s: the tasks where the largest bidder succeeds and the cheapest fails are the
only ones where paying more helps, and `P(largest) - P(cheapest)` is what the scorer compares with the price gap.
A model that reads the jury's scores (`value.JURY_FEATURES`) makes the scorer ask every juror, so its routing is
charged the jury's calls on every task (`FitExample.jury_cost_usd`).

`measure_value` measures a fitted model the same way on tasks it never saw. `memory_rates` fills the memory feature
(for the fit only). The ablation and the held-out evaluation, in the form the reports read, are in
`langgraph_sale.value_ablation`. docs/method.md §6.3 describes the method and has the ablation; the bench reports put
its routing beside the baselines'.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.fit import RoutingSummary, loss_lam, routing_summary
from langgraph_sale.fit_examples import FitExample
from langgraph_sale.value import BID_FEATURES, JURY_FEATURES, VALUE_FEATURES, BidderValue, ValueModel, value_features

__all__ = ["ValueFit", "W_VALUE_GRID", "fit_value_model", "measure_value", "memory_rates"]

W_VALUE_GRID = (0.0, *(round(0.05 * 1.1**k, 6) for k in range(80)))
"""The exchange rates tried, from 0 (price alone decides: the cheapest bidder always wins) to about 95 (the predicted
success decides almost always)."""


class ValueFit(BaseModel):
    """A fitted model and what was measured on the out-of-fold probabilities."""

    model: ValueModel
    lam: float
    auc_success: dict[str, float | None]
    """Per bidder: the AUC of its predicted probability against its own success (None: one class only)."""
    auc_gain: float | None
    """The AUC of `P(largest) - P(cheapest)` against "the largest succeeds where the cheapest fails"."""
    brier: dict[str, float]
    """Per bidder: the mean squared error of the probability (a calibration check; the base rate's is p(1-p))."""
    routing: dict[str, RoutingSummary]
    """"value" (the scorer with the chosen w_value), "always_largest", "always_cheapest", "oracle"."""


def _sklearn() -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
    except ImportError as err:  # pragma: no cover - the extra is part of the test install
        raise AuctionConfigError("fit", "the learned value needs scikit-learn: pip install "
                                 "'langgraph-sale[fit]'") from err
    return LogisticRegression, roc_auc_score


def _rows(examples: Sequence[FitExample], bidder: str, features: Sequence[str]) -> list[list[float | None]]:
    rows = []
    for example in examples:
        candidate = next(c for c in example.candidates if c.bidder == bidder)
        known = value_features(entropy_feature=candidate.entropy_feature, plan_tokens=candidate.plan_tokens,
                               task=example.task_chars, bidder=bidder, jury=candidate.jury,
                               memory_rate=candidate.memory_rate)
        rows.append([known[name] for name in features])
    return rows


def memory_rates(examples: Sequence[FitExample], vectors: Sequence[Sequence[float]], *, k: int = 5
                 ) -> list[FitExample]:
    """The examples with each candidate's `memory_rate`: its success rate on the `k` tasks most similar to this one
    (cosine of `vectors`, one per example, e.g. the task's embedding), the task itself left out.

    That is what a memory holding every bidder's outcome on every other training task would say: the best case of
    the feature (a SALE memory knows only each past auction's winner's outcome).

    Raises:
        AuctionConfigError: When `vectors` and `examples` differ in number, or `k` is not positive.

    Examples:
        >>> from langgraph_sale.fit_examples import FitCandidate
        >>> def task(i, ok):
        ...     return FitExample(task_id=f"t{i}", candidates=[FitCandidate(bidder="a", cost_feature=0.1, success=ok,
        ...                                                                 cost_usd=1e-5)])
        >>> filled = memory_rates([task(0, True), task(1, True), task(2, False)], [[1, 0], [1, 0.1], [0, 1]], k=1)
        >>> [e.candidates[0].memory_rate for e in filled]
        [1.0, 1.0, 1.0]
    """
    if len(vectors) != len(examples):
        raise AuctionConfigError("vectors", f"{len(vectors)} vectors for {len(examples)} examples")
    if k < 1:
        raise AuctionConfigError("memory_k", f"must be at least 1, got {k}")

    def cosine(a: Sequence[float], b: Sequence[float]) -> float:
        norm = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
        return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0

    filled = []
    for index, example in enumerate(examples):
        others = sorted((j for j in range(len(examples)) if j != index),
                        key=lambda j: (-cosine(vectors[index], vectors[j]), j))[:k]
        filled.append(example.model_copy(update={"candidates": [
            candidate.model_copy(update={"memory_rate": sum(
                examples[j].candidates[position].success for j in others) / len(others) if others else None})
            for position, candidate in enumerate(example.candidates)]}))
    return filled


def _fit_one(rows: Sequence[Sequence[float | None]], labels: Sequence[bool], features: Sequence[str], c: float
             ) -> BidderValue:
    logistic, _ = _sklearn()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(features)
    means, scales = {}, {}
    for name, column in zip(features, columns, strict=True):
        known = [x for x in column if x is not None and math.isfinite(x)]
        mean = sum(known) / len(known) if known else 0.0
        spread = math.sqrt(sum((x - mean) ** 2 for x in known) / len(known)) if known else 0.0
        means[name], scales[name] = mean, spread if spread > 1e-12 else 1.0
    matrix = [[(x - means[n]) / scales[n] if x is not None and math.isfinite(x) else 0.0
               for n, x in zip(features, row, strict=True)] for row in rows]
    if len(set(labels)) < 2:  # one class only: the base rate, as a constant
        rate = (sum(labels) + 0.5) / (len(labels) + 1.0)
        return BidderValue(intercept=math.log(rate / (1 - rate)), coef={}, mean=means, scale=scales)
    model = logistic(C=c).fit(matrix, [int(label) for label in labels])
    return BidderValue(intercept=float(model.intercept_[0]), mean=means, scale=scales,
                       coef={n: float(w) for n, w in zip(features, model.coef_[0], strict=True)})


def _fold(example: FitExample, index: int, folds: int) -> int:
    key = example.task_id or str(index)
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % folds


def _picks(examples: Sequence[FitExample], probabilities: Sequence[dict[str, float]], w_value: float) -> list[int]:
    picks = []
    for example, chances in zip(examples, probabilities, strict=True):
        top = max(c.price_per_mtok or 0.0 for c in example.candidates) or 1.0
        scores = [(c.price_per_mtok or 0.0) / top - w_value * chances[c.bidder] for c in example.candidates]
        rank = {index: position for position, index in enumerate(example.tie_order())}  # the scorer's tie rule
        picks.append(min(range(len(scores)), key=lambda i: (round(scores[i], 12), rank[i])))
    return picks


def _oracle(example: FitExample, lam: float) -> int:
    losses = example.losses(lam)
    return min(example.tie_order(), key=lambda i: losses[i])


class _CrossFit(BaseModel):
    """Out-of-fold probabilities of every bidder on every task, and what they were fitted on."""

    bidders: list[str]
    labels: dict[str, list[bool]]
    rows: dict[str, list[list[float | None]]]
    out_of_fold: list[dict[str, float]]
    lam: float


def _check_examples(examples: Sequence[FitExample], folds: int) -> list[str]:
    if len(examples) < max(4, folds):
        raise AuctionConfigError("examples", f"{len(examples)} tasks: the learned value needs at least "
                                 f"{max(4, folds)} (one per fold)")
    bidders = [c.bidder for c in examples[0].candidates]
    for index, example in enumerate(examples):
        if [c.bidder for c in example.candidates] != bidders:
            raise AuctionConfigError(f"examples[{index}]", f"bidders {[c.bidder for c in example.candidates]} "
                                     f"differ from the first task's {bidders}")
        if any(c.price_per_mtok is None for c in example.candidates):
            raise AuctionConfigError(f"examples[{index}]", "every candidate needs price_per_mtok")
    return bidders


def _cross_fit(examples: Sequence[FitExample], features: Sequence[str], *, lam: float | None, folds: int, c: float
               ) -> _CrossFit:
    bidders = _check_examples(examples, folds)
    unknown = [name for name in features if name not in VALUE_FEATURES]
    if unknown or not features:
        raise AuctionConfigError("features", f"unknown features {unknown}; known: {', '.join(VALUE_FEATURES)}"
                                 if unknown else "at least one feature is needed")
    lam_used = loss_lam(examples, lam)
    rows = {b: _rows(examples, b, features) for b in bidders}
    labels = {b: [next(c for c in e.candidates if c.bidder == b).success for e in examples] for b in bidders}
    fold_of = [_fold(e, i, folds) for i, e in enumerate(examples)]
    out_of_fold: list[dict[str, float]] = [{} for _ in examples]
    for fold in set(fold_of):
        train = [i for i, f in enumerate(fold_of) if f != fold]
        for bidder in bidders:
            model = _fit_one([rows[bidder][i] for i in train], [labels[bidder][i] for i in train], features, c)
            for i, f in enumerate(fold_of):
                if f == fold:
                    out_of_fold[i][bidder] = model.probability(dict(zip(features, rows[bidder][i], strict=True)))
    return _CrossFit(bidders=bidders, labels=labels, rows=rows, out_of_fold=out_of_fold, lam=lam_used)


def _jury_charge(examples: Sequence[FitExample], features: Sequence[str]) -> list[float] | None:
    """Per task, what the jury costs a model that reads its scores (the scorer then asks every juror)."""
    if not any(name in JURY_FEATURES for name in features):
        return None
    return [sum(e.jury_cost_usd.values()) for e in examples]


def _area(truth: Sequence[bool], score: Sequence[float]) -> float | None:
    _, auc = _sklearn()
    return float(auc([int(t) for t in truth], list(score))) if len(set(truth)) == 2 else None


def _measured(examples: Sequence[FitExample], features: Sequence[str], crossed: _CrossFit, model: ValueModel
              ) -> ValueFit:
    bidders, labels, out_of_fold, lam = crossed.bidders, crossed.labels, crossed.out_of_fold, crossed.lam
    prices = {c.bidder: c.price_per_mtok or 0.0 for c in examples[0].candidates}
    cheapest, largest = min(bidders, key=prices.__getitem__), max(bidders, key=prices.__getitem__)
    gain = [labels[largest][i] and not labels[cheapest][i] for i in range(len(examples))]
    return ValueFit(
        model=model, lam=lam,
        auc_success={b: _area(labels[b], [p[b] for p in out_of_fold]) for b in bidders},
        auc_gain=_area(gain, [p[largest] - p[cheapest] for p in out_of_fold]),
        brier={b: sum((p[b] - labels[b][i]) ** 2 for i, p in enumerate(out_of_fold)) / len(examples)
               for b in bidders},
        routing={
            "value": routing_summary(examples, _picks(examples, out_of_fold, model.w_value), lam,
                                     _jury_charge(examples, features)),
            "always_largest": routing_summary(examples, [bidders.index(largest)] * len(examples), lam),
            "always_cheapest": routing_summary(examples, [bidders.index(cheapest)] * len(examples), lam),
            "oracle": routing_summary(examples, [_oracle(e, lam) for e in examples], lam)})


def fit_value_model(examples: Sequence[FitExample], *, lam: float | None = None,
                    features: Sequence[str] = BID_FEATURES, folds: int = 5, c: float = 1.0) -> ValueFit:
    """Fit the learned value on `examples` (see the module docstring).

    Args:
        examples: Training tasks; every task has the same bidders, with prices.
        lam: Successes per dollar in the loss; None: `0.5 / (largest cost_usd)`, as `fit_weights`.
        features: Which of `VALUE_FEATURES` to use (default: the bid's own, `BID_FEATURES`).
        folds: Cross-fitting folds (tasks hashed on their id).
        c: The inverse L2 strength of each logistic regression (scikit-learn's `C`).

    Raises:
        AuctionConfigError: On too few tasks, tasks with different bidders, a bidder without a price, or an unknown
            feature.

    Examples:
        >>> from langgraph_sale.testing import toy_fit_examples
        >>> fitted = fit_value_model(toy_fit_examples(range(20), small_below=10, large_below=16), folds=4)
        >>> fitted.model.bidders["small"].coef["task_chars"] < 0  # longer tasks: the small model fails
        True
    """
    features = tuple(features)
    crossed = _cross_fit(examples, features, lam=lam, folds=folds, c=c)
    charge = _jury_charge(examples, features)
    losses = {w: routing_summary(examples, _picks(examples, crossed.out_of_fold, w), crossed.lam, charge).mean_loss
              for w in W_VALUE_GRID}
    w_value = min(W_VALUE_GRID, key=lambda w: (round(losses[w], 12), w))
    final = ValueModel(features=features, w_value=w_value, bidders={
        b: _fit_one(crossed.rows[b], crossed.labels[b], features, c) for b in crossed.bidders})
    fit = _measured(examples, features, crossed, final)
    final.fitted = {"tasks": len(examples), "folds": folds, "c": c, "lam": crossed.lam,
                    "auc_success": fit.auc_success, "auc_gain": fit.auc_gain}
    return fit


def measure_value(model: ValueModel, examples: Sequence[FitExample], *, lam: float | None = None) -> ValueFit:
    """Measure a fitted model on tasks it never saw (a dev half, the holdout): each bidder's AUC, the gain's AUC, the
    calibration and the routing with the model's own `w_value`, as `fit_value_model` measures its out-of-fold
    probabilities (nothing is refitted).

    `lam` defaults to the one the model was fitted with, so the losses compare with the fit's.

    Raises:
        AuctionConfigError: When the tasks' bidders are not the model's, or a bid lacks a price.

    Examples:
        >>> from langgraph_sale.testing import toy_fit_examples
        >>> model = fit_value_model(toy_fit_examples(range(20), small_below=10, large_below=16), folds=4).model
        >>> measure_value(model, toy_fit_examples(range(5, 25, 2), small_below=11, large_below=17)).auc_gain > 0.5
        True
    """
    bidders = _check_examples(examples, 1)
    unknown = [b for b in bidders if b not in model.bidders]
    if unknown:
        raise AuctionConfigError("examples", f"bidders {unknown} are not the model's ({', '.join(model.bidders)})")
    features = model.features
    fitted_lam = model.fitted.get("lam")
    if lam is None and isinstance(fitted_lam, int | float):
        lam = fitted_lam  # the fit's own, so the losses compare with the fit's
    rows = {b: _rows(examples, b, features) for b in bidders}
    labels = {b: [next(c for c in e.candidates if c.bidder == b).success for e in examples] for b in bidders}
    predicted = [{b: model.probability(b, dict(zip(features, rows[b][i], strict=True))) for b in bidders}
                 for i in range(len(examples))]
    return _measured(examples, features, _CrossFit(bidders=bidders, labels=labels, rows=rows, out_of_fold=predicted,
                                                   lam=loss_lam(examples, lam)), model)
