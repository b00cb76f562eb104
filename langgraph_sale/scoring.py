"""Cost minus value: the score of a bid, its weights, and the choice of the winner.

`score = C - V`, `C = w_cost * cost_feature`, `V = w_entropy * entropy_feature + J`,
`J = rescale * sum_j w_j * jury_j / 5`; the lowest score wins, ties go to the cheaper bidder, then to pool order.

The scaling rule. The raw features live on very different scales ($ x tokens, nats, 0-5 points), so each is divided
by a fixed reference before the weights apply, making every feature roughly 0-1 and independent of units:

- `cost_feature = price * plan_tokens / (max pool price * max_bid_tokens)`: 1 is the most expensive bidder writing
  a plan of the full allowed length;
- `entropy_feature = H / ln(k)`: H is the mean top-k entropy in nats and ln(k) the largest entropy a renormalised
  top-k distribution can have;
- a jury score is divided by 5.

The references are fixed per pool (not per auction), so scores compare across auctions and across the rounds of one
auction, and fitted weights transfer. With the default weights (`w_cost = 1`, `w_entropy = 1`, juror weights summing
to 1) every term can change a decision: a unanimous jury (5 against 0) is worth 1, more than any cost gap between
two plans of at most `max_bid_tokens` (< 1), so it overturns a 5x price gap; at equal value the cheaper plan (lower
price, or fewer tokens at the same price) wins; at equal cost and jury the higher-entropy plan wins (the paper's
sign; a fitted negative `w_entropy` reverses it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from langgraph_sale.errors import AuctionConfigError, load_model, save_model
from langgraph_sale.types import Bid, JuryScore, ScoreBreakdown

__all__ = ["AuctionWeights", "CostValueScorer"]

_TIE_DECIMALS = 12
_MIN_JUROR_WEIGHT = 1e-9


class AuctionWeights(BaseModel):
    """The 2 + |A| weights of the score: cost, entropy, and one per juror.

    Attributes:
        w_cost: Weight of the cost feature.
        w_entropy: Weight of the entropy feature. Positive is the paper's reading (higher entropy is more value);
            a fitted negative weight reads low entropy (a confident plan) as value, as measured on small local
            models.
        w_jury: Weight per juror name. A zero weight skips that juror's calls entirely.
        jury_default: Weight of a juror not listed in `w_jury`; None means `1 / pool size`, so the jury's
            weights sum to 1.

    Examples:
        >>> w = AuctionWeights(w_entropy=-0.5, w_jury={"tiny": 0.0, "large": 1.0})
        >>> w.juror_weights(["tiny", "small", "large"])
        {'tiny': 0.0, 'small': 0.3333333333333333, 'large': 1.0}
        >>> AuctionWeights.model_validate_json(w.model_dump_json()) == w
        True
    """

    model_config = ConfigDict(extra="forbid")

    w_cost: float = 1.0
    w_entropy: float = 1.0
    w_jury: dict[str, float] = Field(default_factory=dict)
    jury_default: float | None = None

    @field_validator("w_cost", "w_entropy", "jury_default")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("weights must be finite numbers")
        return value

    @field_validator("w_jury")
    @classmethod
    def _finite_jurors(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not math.isfinite(weight):
                raise ValueError(f"juror weight for {name!r} must be a finite number")
            if weight != 0 and abs(weight) < _MIN_JUROR_WEIGHT:
                # Subnormal weights would overflow the rescale factor; zero is the way to switch a juror off.
                raise ValueError(f"juror weight for {name!r} must be 0 or at least {_MIN_JUROR_WEIGHT} in size")
        return value

    def juror_weights(self, pool: Sequence[str]) -> dict[str, float]:
        """The weight of every juror of a pool, in pool order."""
        default = self.jury_default if self.jury_default is not None else 1.0 / max(1, len(pool))
        return {name: float(self.w_jury.get(name, default)) for name in pool}

    @classmethod
    def load(cls, path: str | Path) -> AuctionWeights:
        """Load weights from a JSON file (as written by `save` or by the fitter).

        Raises:
            AuctionConfigError: When the file is missing or its content is not valid weights.
        """
        return load_model(cls, path, field="weights", missing="no weights file")

    def save(self, path: str | Path) -> None:
        """Write the weights as JSON."""
        save_model(self, path)


class CostValueScorer:
    """Scores bids by `C - V` and picks the winner (see the module docstring for the scaling rule).

    Args:
        weights: The weights; None uses the defaults (`AuctionWeights()`).

    Examples:
        >>> from langgraph_sale.types import Bid
        >>> scorer = CostValueScorer()
        >>> bids = [Bid(auction_id="a", bidder="small", plan="1. x", plan_tokens=100),
        ...         Bid(auction_id="a", bidder="large", plan="1. x", plan_tokens=100)]
        >>> prices = {"small": 0.1, "large": 0.5}
        >>> table = scorer.score(bids, [], prices=prices, max_bid_tokens=200)
        >>> scorer.winner(table, prices=prices, order=["small", "large"])
        'small'
    """

    def __init__(self, weights: AuctionWeights | None = None) -> None:
        if weights is not None and not isinstance(weights, AuctionWeights):
            raise AuctionConfigError("scorer.weights", f"must be AuctionWeights, got {type(weights).__name__}")
        self.weights = weights or AuctionWeights()

    def active_jurors(self, pool: Sequence[str]) -> list[str]:
        """Jurors whose weight is not zero: only they are asked."""
        return [name for name, weight in self.weights.juror_weights(pool).items() if weight != 0.0]

    def score(
        self,
        bids: Sequence[Bid],
        jury: Sequence[JuryScore],
        *,
        prices: Mapping[str, float],
        max_bid_tokens: int,
        entropy_bids: Sequence[Bid] | None = None,
        task: str = "",
    ) -> dict[str, ScoreBreakdown]:
        """Score every valid bid.

        Args:
            bids: The bids to score (failed bids are skipped).
            jury: Jury scores; those of other bids are ignored.
            prices: Price per bidder in $ per million tokens (the whole pool: the cost reference uses its max).
            max_bid_tokens: The bid token cap, for the cost reference.
            entropy_bids: The bids whose entropy availability decides whether entropy is used (default: `bids`).
                When any of them lacks entropy, the entropy term is left out for all, and the breakdown says so.
            task: The task the bids are for (the linear score does not read it; a learned value does).

        Returns:
            The breakdown per bidder.
        """
        valid = [bid for bid in bids if bid.ok]
        reference_cost = max(prices.values(), default=0.0) * max(1, max_bid_tokens)
        pool = list(prices)
        weights = self.weights.juror_weights(pool)
        active = {name for name, weight in weights.items() if weight != 0.0}
        total_weight = sum(abs(weights[name]) for name in active)
        deciding = [bid for bid in (entropy_bids if entropy_bids is not None else valid) if bid.ok]
        entropy_used = bool(deciding) and all(
            bid.entropy is not None and (bid.entropy_top_k or 0) >= 2 for bid in deciding
        )
        if entropy_used:
            entropy_note = "mean top-k token entropy (renormalised, nats) / ln(k)"
        else:
            missing = sorted({bid.bidder for bid in deciding if bid.entropy is None})
            entropy_note = f"left out: no logprobs from {', '.join(missing)}" if missing else "left out"
        by_bid: dict[str, list[JuryScore]] = {}
        for judgment in jury:
            by_bid.setdefault(judgment.bid_id, []).append(judgment)

        table: dict[str, ScoreBreakdown] = {}
        for bid in valid:
            price = float(prices.get(bid.bidder, 0.0))
            cost_feature = price * bid.plan_tokens / reference_cost if reference_cost > 0 else 0.0
            c_term = self.weights.w_cost * cost_feature
            entropy_feature: float | None = None
            h_term = 0.0
            if entropy_used and bid.entropy is not None and bid.entropy_top_k:
                entropy_feature = bid.entropy / math.log(bid.entropy_top_k)
                h_term = self.weights.w_entropy * entropy_feature
            scores: dict[str, float | None] = {}
            weighted = 0.0
            answered_weight = 0.0
            for judgment in by_bid.get(bid.id, []):
                if judgment.juror not in active:
                    continue
                value = judgment.score
                if value is not None and not math.isfinite(value):
                    value = None
                scores[judgment.juror] = None if value is None else min(5.0, max(0.0, value))
                if value is not None:
                    weighted += weights[judgment.juror] * min(5.0, max(0.0, value)) / 5.0
                    answered_weight += abs(weights[judgment.juror])
            rescale = total_weight / answered_weight if answered_weight > 0 else 0.0
            j_term = rescale * weighted if math.isfinite(rescale * weighted) else 0.0
            v_term = h_term + j_term
            table[bid.bidder] = ScoreBreakdown(
                bidder=bid.bidder,
                bid_id=bid.id,
                phase=bid.phase,
                round=bid.round,
                price_per_mtok=price,
                plan_tokens=bid.plan_tokens,
                cost_feature=cost_feature,
                C=c_term,
                entropy=bid.entropy,
                entropy_feature=entropy_feature,
                entropy_used=entropy_used,
                entropy_note=entropy_note,
                H=h_term,
                jury=scores,
                jury_weights={name: weights[name] for name in scores},
                jury_rescale=rescale,
                J=j_term,
                V=v_term,
                score=c_term - v_term,
            )
        return table

    @staticmethod
    def ranking(
        table: Mapping[str, ScoreBreakdown], *, prices: Mapping[str, float], order: Sequence[str]
    ) -> list[str]:
        """Bidders from best to worst: lowest score, then lower price, then earlier in the pool."""
        position = {name: index for index, name in enumerate(order)}
        return sorted(
            table,
            key=lambda name: (
                round(table[name].score, _TIE_DECIMALS),
                prices.get(name, math.inf),
                position.get(name, len(position)),
            ),
        )

    def winner(
        self, table: Mapping[str, ScoreBreakdown], *, prices: Mapping[str, float], order: Sequence[str]
    ) -> str | None:
        """The winning bidder, or None when no bid was scored."""
        ranked = self.ranking(table, prices=prices, order=order)
        return ranked[0] if ranked else None

