"""The records an auction writes into graph state.

State holds these as plain JSON dicts (`model_dump(mode="json")`) so that checkpointers, Studio and the LangGraph
server can serialise them; the pydantic models below validate them on the way in and give users typed access on
the way out (`Bid.model_validate(state["auction_bids"][0])`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Evaluator",
    "Phase",
    "AuctionStatus",
    "CallUsage",
    "Bid",
    "JuryScore",
    "ScoreBreakdown",
    "AuctionOutcome",
    "new_record_id",
]

Evaluator = Callable[[str, str], bool | Awaitable[bool]]
"""`evaluate(task, answer) -> bool` (or async): an auction's `evaluate` hook and an `Escalate` check."""

Phase = Literal["bid", "jury", "refine", "execute"]
"""The phases whose tokens and dollars are accounted separately."""


def new_record_id() -> str:
    """Return a fresh id for a record, so reducers can merge re-sent records idempotently.

    Examples:
        >>> len(new_record_id())
        32
    """
    return uuid.uuid4().hex


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_state(self) -> dict[str, Any]:
        """Dump to the JSON-plain dict that state stores."""
        return self.model_dump(mode="json")


class CallUsage(_Record):
    """Tokens and dollars of one model call (or the sum of several).

    `estimated` is True when the model returned no `usage_metadata` and the counts were estimated from the text
    (about four characters a token).

    Examples:
        >>> CallUsage(input_tokens=100, output_tokens=20, cost_usd=2.4e-6).total_tokens
        120
    """

    input_tokens: int = 0
    """Prompt tokens, the cached ones included (as providers report them)."""
    cached_input_tokens: int = 0
    """The part of the prompt the provider served from its prompt cache, where it reports it."""
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: CallUsage) -> CallUsage:
        return CallUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            calls=self.calls + other.calls,
            estimated=self.estimated or other.estimated,
        )


class Bid(_Record):
    """One bid: a bidder's strategy plan for the task, or the reason it has none.

    Examples:
        >>> bid = Bid(auction_id="a1", bidder="small", plan="1. Read the task.", plan_tokens=6, entropy=0.4)
        >>> bid.ok
        True
    """

    id: str = Field(default_factory=new_record_id)
    auction_id: str
    bidder: str
    phase: Literal["bid", "refine"] = "bid"
    round: int = 0
    plan: str = ""
    plan_tokens: int = 0
    """Output tokens of the plan (from `usage_metadata`; estimated only where usage is missing)."""
    entropy: float | None = None
    """Mean per-token entropy in nats from the renormalised top-k logprobs; None when the model gave none."""
    entropy_top_k: int | None = None
    """How many alternatives per token the entropy was computed from (the k of the top-k approximation)."""
    usage: CallUsage = Field(default_factory=CallUsage)
    latency_s: float = 0.0
    attempts: int | None = None
    """On a failed bid, how many attempts the retry policy made (a successful bid does not know its retries)."""
    error: str | None = None
    breakdown: ScoreBreakdown | None = None
    """The bid's own score breakdown, once it is scored (every bid keeps its own, also after an outbid round)."""
    flags: list[str] = Field(default_factory=list)
    """Passages removed from the plan because they addressed the jury (`langgraph_sale.guard`), as
    `"<kind>: <passage>"`; empty for a clean plan."""

    @property
    def ok(self) -> bool:
        """True when the bid has a plan and no error, i.e. it takes part in the auction."""
        return self.error is None and bool(self.plan.strip())

    @field_validator("entropy")
    @classmethod
    def _finite_entropy(cls, value: float | None) -> float | None:
        # A NaN or infinity must never reach a decision: treat it as "no entropy".
        if value is None or not math.isfinite(value):
            return None
        return value


class JuryScore(_Record):
    """One juror's judgment of one bid (blind: the juror was not told who wrote it).

    `score` is None when the juror was dropped for this bid after a failed retry.

    Examples:
        >>> JuryScore(auction_id="a1", juror="large", bidder="small", bid_id="b1", score=4.0).score
        4.0
    """

    id: str = Field(default_factory=new_record_id)
    auction_id: str
    juror: str
    bidder: str
    bid_id: str
    phase: Literal["bid", "refine"] = "bid"
    round: int = 0
    score: float | None = None
    integer_score: int | None = None
    """The integer the juror answered, clamped to 0-5."""
    expected_score: float | None = None
    """Sum of k * p(k) over the score digit's top logprobs (renormalised over 0-5), when the model gave them."""
    method: Literal["batch", "digit", "structured", "text", "none"] = "none"
    """How the score was read: "batch" (one digit of a juror's answer over every plan of the round), "digit",
    "structured", "text", or "none" (no score)."""
    usage: CallUsage = Field(default_factory=CallUsage)
    """What the judgment's calls cost. A batched request is carried whole by the first judgment it produced (the
    others carry none), so the jury's usage sums to what was called."""
    latency_s: float = 0.0
    attempts: int = 0
    """Model calls the judgment made (a batched request counts once, on the first judgment it produced)."""
    error: str | None = None


class ScoreBreakdown(_Record):
    """Every term of one bid's score, `score = C - V` (lower wins).

    Raw features are kept beside the scaled ones so a decision can be audited and weights refitted.

    Examples:
        >>> b = ScoreBreakdown(bidder="small", bid_id="b1", price_per_mtok=0.1, plan_tokens=50, cost_feature=0.1,
        ...                    C=0.1, V=0.5, score=-0.4)
        >>> b.score
        -0.4
    """

    bidder: str
    bid_id: str
    phase: Literal["bid", "refine"] = "bid"
    round: int = 0
    price_per_mtok: float
    plan_tokens: int
    cost_feature: float
    """price * plan_tokens divided by the pool's reference cost (largest price * max_bid_tokens)."""
    C: float
    """w_cost * cost_feature."""
    entropy: float | None = None
    entropy_feature: float | None = None
    """Entropy divided by ln(k), the largest entropy a renormalised top-k distribution can have."""
    entropy_used: bool = False
    entropy_note: str = ""
    H: float = 0.0
    """w_entropy * entropy_feature (0 when entropy is left out of this auction)."""
    jury: dict[str, float | None] = Field(default_factory=dict)
    """Each juror's 0-5 score of this bid (None: dropped after a failed retry)."""
    jury_weights: dict[str, float] = Field(default_factory=dict)
    jury_rescale: float = 1.0
    """Total juror weight over the weight of the jurors who answered (dropped or unsampled jurors rescaled away)."""
    J: float = 0.0
    """The jury term: rescale * sum_j w_j * score_j / 5."""
    V: float
    """H + J (with a learned value, `w_value * success_probability`)."""
    score: float
    """C - V."""
    success_probability: float | None = None
    """The learned value's predicted probability that this bidder succeeds (`langgraph_sale.value`); None with the
    paper's linear score."""


AuctionStatus = Literal["executed", "decided", "no_bids", "execution_failed", "over_budget", "rejected"]
"""How an auction ended: the winner ran; it was decided only (`route` "decide" or "parent"); no bid survived and no
fallback ran; the winner's execution failed; no bidder fit the budget; a person rejected the winner."""


class AuctionOutcome(_Record):
    """The feedback of one auction, written to `auction_outcome` at the end.

    Examples:
        >>> AuctionOutcome(auction_id="a1", status="executed", reason="lowest score", winner="small").winner
        'small'
    """

    auction_id: str
    task: str = ""
    task_message_id: str | None = None
    """The id of the human message the task was read from (None when it came from `auction_task`)."""
    status: AuctionStatus
    reason: str
    winner: str | None = None
    provisional_winner: str | None = None
    plan: str = ""
    fallback_used: bool = False
    answer: str | None = None
    success: bool | None = None
    """What the `evaluate` callback said; None when no evaluator was given or it failed."""
    evaluation_error: str | None = None
    execution_error: str | None = None
    executed_by: str | None = None
    """The bidder whose answer this is: the winner, or with `escalate` the bidder the task was last handed to."""
    escalated_from: list[str] = Field(default_factory=list)
    """With `escalate`, the bidders whose runs were rejected (the check said no, or the run failed), in order; their
    runs are paid for in the execute phase."""
    checked: bool | None = None
    """With `escalate`, the check's verdict on this answer; None where it was not asked (nobody left to hand to)."""
    check_error: str | None = None
    """With `escalate`, why the check could not say (the answer was kept)."""
    delivery: str | None = None
    """How the answer was delivered when the executor's first final answer was not what the task asked for (code
    asked for, none given after code ran): "asked_again" (asked once more) or "last_code" (the last code that ran)."""
    tokens_by_phase: dict[str, int] = Field(default_factory=dict)
    cost_usd_by_phase: dict[str, float] = Field(default_factory=dict)
    total_tokens: int = 0
    total_cost_usd: float = 0.0
    overhead_token_share: float | None = None
    """Tokens of bids and jury over all tokens of the auction and execution."""
    overhead_cost_share: float | None = None
    overhead_time_share: float | None = None
    auction_wall_s: float = 0.0
    execute_wall_s: float = 0.0
    bids_failed: list[str] = Field(default_factory=list)
    usage_estimated: bool = False
    refine_rounds: int = 0
    """Outbid rounds run (0: none, e.g. memory empty, no memory configured, or the cheapest bidder led)."""
    recalled: int = 0
    """Past auctions recalled from memory for the outbid round(s)."""
    outbid: bool = False
    """True when a rewritten bid of a cheaper bidder took the win from the provisional winner."""
    outbid_by: str | None = None
    skipped: bool = False
    """True when the auction was skipped (`SkipAuction`): no bids, no jury; the winner ran without a plan."""
    budget_usd: float | None = None
    """The task's budget, when the run carried one; the total cost includes the auction's own calls."""
    approved_by: str | None = None
    """"person" when an approval step accepted or overrode the winner."""
    memory_written: bool = False
    memory_error: str | None = None
    """Why the auction could not be written to memory (the outcome in state is kept regardless)."""
    bids: list[Bid] = Field(default_factory=list)
    """The audit: every bid of every phase, each with its own score breakdown (a failed one with its error)."""
    jury: list[JuryScore] = Field(default_factory=list)
    """Every juror's judgment of every bid it was asked about."""
    scores: dict[str, ScoreBreakdown] = Field(default_factory=dict)
    """Each bidder's latest score breakdown (its rewritten bid's after an outbid round)."""
    usage_by_phase: dict[str, CallUsage] = Field(default_factory=dict)
    """The ledger: tokens, dollars, calls and whether they were estimated, by phase."""


Bid.model_rebuild()  # `breakdown` refers to ScoreBreakdown, defined after Bid
