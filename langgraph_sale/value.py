"""A learned value: each bidder's probability of success on the task, from what is known before anyone executes.

The paper's value term is linear in the bid's entropy and the jury's scores, with weights fitted on outcomes
(`langgraph_sale.fit`). On a small pool those signals are weak one at a time and the linear score reads them as
"value" whatever the bidder: it cannot say that the same entropy means more from one model than from another. A
`ValueModel` is one logistic model per bidder over a few features of its bid and of the task, fitted on the
bidders' own executions (`fit_value_model`, scikit-learn), and `ValueScorer` turns it into the auction's decision:

    score = price / (largest price of the pool)  -  w_value * P(success)

the lowest score wins, so a costlier bidder wins only where its predicted success exceeds the cheaper one's by
more than the price gap is worth (`w_value`: how many "largest prices" one certain success is worth; fitted on
the training tasks' outcomes with the fit's loss `lam * cost - success`). The cost term is the bidder's price alone:
the plan's length is one of the model's features instead of a multiplier.

Features (`VALUE_FEATURES`), each standardised with the training mean and scale; a feature the auction lacks (no
logprobs, say) is read at its training mean, i.e. it moves nothing. The bid's own (`BID_FEATURES`, the default,
free: the auction has them anyway):

- `entropy`: the bid's mean top-k token entropy over ln(k) (`ScoreBreakdown.entropy_feature`);
- `plan_tokens`: the plan's length in tokens;
- `task_chars`: log(1 + characters of the task).

The jury's (`JURY_FEATURES`; a model that uses one makes the scorer ask every juror, and pays for it):

- `self_score`: the bidder's own expected 0-5 score of its plan, read from its logprobs, over 5 (a self-assessment);
- `peer_score`: the other jurors' mean expected score of the plan, over 5.

And memory's (`MEMORY_FEATURES`), for the fit's ablation only:

- `memory_rate`: the bidder's success rate on the most similar other training tasks (`value_fit.memory_rates`), what
  a memory holding every bidder's outcome on every past task would say. It is measured at that best case and not
  read by the scorer: docs/method.md §6.3 has the ablation, in which it does not pay.

By default the jury is not asked: at this pool's size its scores are nearly constant and cost more than the
execution they decide (docs/RESULTS.md), and the ablation finds no jury feature that pays for its calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from langgraph_sale.errors import AuctionConfigError, load_model, save_model
from langgraph_sale.scoring import AuctionWeights, CostValueScorer
from langgraph_sale.types import Bid, JuryScore, ScoreBreakdown

__all__ = ["BID_FEATURES", "JURY_FEATURES", "MEMORY_FEATURES", "VALUE_FEATURES", "BidderValue", "ValueModel",
           "ValueScorer", "value_features"]

BID_FEATURES = ("entropy", "plan_tokens", "task_chars")
JURY_FEATURES = ("self_score", "peer_score")
MEMORY_FEATURES = ("memory_rate",)
VALUE_FEATURES = (*BID_FEATURES, *JURY_FEATURES, *MEMORY_FEATURES)


def value_features(*, entropy_feature: float | None, plan_tokens: int | None, task: str | int | None,
                   bidder: str = "", jury: Mapping[str, float | None] | None = None,
                   memory_rate: float | None = None) -> dict[str, float | None]:
    """The features of one bid as `ValueModel` reads them (None: not known for this bid).

    `jury` is each juror's 0-5 score of this bid (the bidder itself among them for `self_score`).

    Examples:
        >>> value_features(entropy_feature=0.25, plan_tokens=40, task="Add two numbers.", bidder="small",
        ...                jury={"small": 4.0, "large": 3.0, "medium": None})
        {'entropy': 0.25, 'plan_tokens': 40.0, 'task_chars': 2.833213344056216, 'self_score': 0.8, \
'peer_score': 0.6, 'memory_rate': None}
    """
    chars = len(task) if isinstance(task, str) else task
    scores = {juror: score for juror, score in (jury or {}).items() if score is not None and math.isfinite(score)}
    own = scores.get(bidder) if bidder else None
    peers = [score for juror, score in scores.items() if juror != bidder]
    return {"entropy": entropy_feature, "plan_tokens": None if plan_tokens is None else float(plan_tokens),
            "task_chars": None if chars is None else math.log1p(chars),
            "self_score": None if own is None else own / 5.0,
            "peer_score": sum(peers) / (5.0 * len(peers)) if peers else None,
            "memory_rate": memory_rate}


class BidderValue(BaseModel):
    """One bidder's logistic model: `P(success) = sigmoid(intercept + sum_f coef_f * (x_f - mean_f) / scale_f)`."""

    model_config = ConfigDict(extra="forbid")

    intercept: float = Field(allow_inf_nan=False)
    coef: dict[str, float]
    mean: dict[str, float]
    scale: dict[str, float]

    @field_validator("scale")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for name, scale in value.items():
            if not (math.isfinite(scale) and scale > 0):
                raise ValueError(f"scale of {name!r} must be a positive number, got {scale!r}")
        return value

    def probability(self, features: Mapping[str, float | None]) -> float:
        z = self.intercept
        for name, weight in self.coef.items():
            x = features.get(name)
            if x is not None and math.isfinite(x):
                z += weight * (x - self.mean[name]) / self.scale[name]
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


class ValueModel(BaseModel):
    """Per-bidder success models and what a unit of success probability is worth against price.

    Examples:
        >>> flat = {"coef": {}, "mean": {}, "scale": {}}
        >>> model = ValueModel(bidders={"small": BidderValue(intercept=0.0, **flat),
        ...                             "large": BidderValue(intercept=2.0, **flat)}, w_value=2.0)
        >>> round(model.bidders["large"].probability({}), 3)
        0.881
    """

    model_config = ConfigDict(extra="forbid")

    features: tuple[str, ...] = BID_FEATURES
    bidders: dict[str, BidderValue] = Field(min_length=1)
    w_value: float = Field(ge=0.0, allow_inf_nan=False)
    """How many "largest prices" of cost one certain success is worth: the scorer's value weight."""
    fitted: dict[str, object] = Field(default_factory=dict)
    """How the model was fitted (tasks, split, the cross-fitted AUCs): for the reader, not used to score."""

    @field_validator("features")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in VALUE_FEATURES]
        if unknown:
            raise ValueError(f"unknown features {unknown}; known: {', '.join(VALUE_FEATURES)}")
        return value

    @classmethod
    def load(cls, path: str | Path) -> ValueModel:
        """Load a model from JSON (as `save` or `langgraph-sale fit --value` write it).

        Raises:
            AuctionConfigError: When the file is missing or does not hold a valid model.
        """
        return load_model(cls, path, field="value", missing="no value model")

    def save(self, path: str | Path) -> None:
        save_model(self, path)

    def probability(self, bidder: str, features: Mapping[str, float | None]) -> float:
        """The bidder's predicted probability of success.

        Raises:
            AuctionConfigError: When the model has no bidder of that name.
        """
        model = self.bidders.get(bidder)
        if model is None:
            raise AuctionConfigError("value", f"the value model knows no bidder {bidder!r} (it was fitted for "
                                     f"{', '.join(self.bidders)}): fit it on a run of this pool")
        return model.probability(features)


class ValueScorer(CostValueScorer):
    """`CostValueScorer` with the learned value: `score = price / max price - w_value * P(success)`.

    The breakdown keeps every raw feature of the linear score (for audits and refits) and says what decided:
    `C` is the price term, `V` the value term, `success_probability` the model's prediction.

    Examples:
        >>> flat = {"coef": {}, "mean": {}, "scale": {}}
        >>> model = ValueModel(bidders={"small": BidderValue(intercept=-1.0, **flat),
        ...                             "large": BidderValue(intercept=2.0, **flat)}, w_value=2.0)
        >>> bids = [Bid(auction_id="a", bidder=name, plan="1. x", plan_tokens=9) for name in ("small", "large")]
        >>> prices = {"small": 0.1, "large": 0.3}
        >>> scorer = ValueScorer(model)
        >>> table = scorer.score(bids, [], prices=prices, max_bid_tokens=128, task="Add two numbers.")
        >>> scorer.winner(table, prices=prices, order=["small", "large"]), scorer.active_jurors(["small", "large"])
        ('large', [])
    """

    def __init__(self, model: ValueModel) -> None:
        if not isinstance(model, ValueModel):
            raise AuctionConfigError("scorer.model", f"must be a ValueModel, got {type(model).__name__}")
        offline = [name for name in model.features if name in MEMORY_FEATURES]
        if offline:
            raise AuctionConfigError("scorer.model", f"reads {', '.join(offline)}, which the fit measures for its "
                                     "ablation only (what a memory of every bidder's outcome would say): fit the "
                                     "model without it")
        super().__init__(AuctionWeights(w_cost=1.0, w_entropy=0.0, jury_default=0.0))
        self.model = model

    def active_jurors(self, pool: Sequence[str]) -> list[str]:
        """Every juror when the model reads the jury's scores, else none (the module docstring says why)."""
        return list(pool) if any(name in JURY_FEATURES for name in self.model.features) else []

    def score(self, bids: Sequence[Bid], jury: Sequence[JuryScore], *, prices: Mapping[str, float],
              max_bid_tokens: int, entropy_bids: Sequence[Bid] | None = None, task: str = ""
              ) -> dict[str, ScoreBreakdown]:
        table = super().score(bids, jury, prices=prices, max_bid_tokens=max_bid_tokens, entropy_bids=entropy_bids,
                              task=task)
        top_price = max(prices.values(), default=0.0)
        by_id = {bid.id: bid for bid in bids}
        for name, row in table.items():
            bid = by_id[row.bid_id]
            top_k = bid.entropy_top_k or 0
            entropy = bid.entropy / math.log(top_k) if bid.entropy is not None and top_k >= 2 else None
            judged = {record.juror: record.score for record in jury if record.bid_id == bid.id}
            features = value_features(entropy_feature=entropy, plan_tokens=bid.plan_tokens, task=task or None,
                                      bidder=name, jury=judged)
            probability = self.model.probability(name, {f: features[f] for f in self.model.features})
            c_term = row.price_per_mtok / top_price if top_price > 0 else 0.0
            v_term = self.model.w_value * probability
            table[name] = row.model_copy(update={
                "entropy_feature": entropy, "C": c_term, "H": 0.0, "J": 0.0, "V": v_term,
                "success_probability": probability, "score": c_term - v_term})
        return table
