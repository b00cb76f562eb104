"""The auction's options, validated once, and the auction they make with a pool (`Auction`), which every phase
node holds.

`AuctionOptions` is every option of `create_auction` but the pool and the graph's schemas, with its default in one
place; making one checks every field and raises `AuctionConfigError` naming the first bad one. `Auction` binds the
options to a validated pool and works out, once, what the phases read: the names in order, the prices, the active
jurors and their structured-output runnables, the number of outbid rounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from langgraph.types import RetryPolicy

from langgraph_sale.bidder import Bidder, validate_pool
from langgraph_sale.budget import DEFAULT_EXPECTED_EXECUTION_TOKENS
from langgraph_sale.errors import AuctionConfigError, require_choice, require_int, require_seconds
from langgraph_sale.escalation import Escalate
from langgraph_sale.executor import DEFAULT_MAX_STEPS
from langgraph_sale.guard import PlanScreening
from langgraph_sale.jury import JURY_SCORINGS, JuryScoring, structured_juror
from langgraph_sale.memory import AuctionMemory
from langgraph_sale.prompts import PLAN_FORMATS, PlanFormat
from langgraph_sale.scoring import CostValueScorer
from langgraph_sale.skipping import SkipAuction
from langgraph_sale.types import Evaluator

__all__ = ["AuctionOptions", "Auction", "Route", "Evaluator", "DEFAULT_MAX_BID_TOKENS", "DEFAULT_BID_TIMEOUT",
           "DEFAULT_EXECUTE_TIMEOUT", "DEFAULT_BID_RETRY"]

Route = Literal["internal", "decide", "parent"]

DEFAULT_MAX_BID_TOKENS = 256
"""Bid cap: plans are "a few hundred tokens" in the paper; local models ignore word budgets and run to the cap."""
DEFAULT_BID_TIMEOUT = 120.0
DEFAULT_EXECUTE_TIMEOUT = 1800.0
DEFAULT_BID_RETRY = RetryPolicy(max_attempts=2, initial_interval=0.5, backoff_factor=2.0, jitter=True)


@dataclass(frozen=True)
class AuctionOptions:
    """Every option of an auction, checked when the object is made; `create_auction(pool, options)` or its fields
    as keywords (`create_auction(pool, jury=2)`).

    Attributes:
        scorer: The scorer (`CostValueScorer`, the default weights unless given).
        jury: True for the full jury (every juror scores every bid: |A|^2 judgments, in |A| requests with
            `jury_batch`), False for none, or an int m for a sampled jury of m jurors per bid that always includes
            the bid's author. Jurors whose weight is zero are never asked.
        jury_scoring: "digit" (the default) asks each juror for one token a plan, the score digit, and reads the
            expected score from its top logprobs (the digit itself where the model returns none); "integer" keeps
            the digit (batched) or asks for `{"score": N}` and uses N (one plan a request); "logprobs" reads the
            expected score too, and asks for `{"score": N}` where a plan is judged alone.
        jury_batch: True (the default): each juror reads every plan of a round in one request and answers one
            digit per plan, the plans in a drawn order (`langgraph_sale.jury_batch.judge_all`); False: one request per
            (juror, bid), blind to the other plans, as the paper's jury.
        plan_format: "steps" (the default) asks for 3 to 5 one-line steps ending at `prompts.PLAN_END`, the bid
            call's stop sequence, with every auction prompt in the shared-prefix layout; "free", the earlier
            prompt (a short plan under a word budget, which small models run to the cap).
        memory: The shared auction memory (`AuctionMemory`, over the run's store): every auction is written to
            it, and it feeds the outbid round. None: no memory, no outbid round.
        refine: Outbid rounds (with memory): True for the paper's single round, an int for at most that many,
            False for none. Bidders strictly cheaper than the leader rewrite their bids from recalled
            (losing, winning) plan pairs; a rewritten bid takes the win only with a strictly lower score.
        skip: With memory, skip the auction where the similar past auctions cost at least `overhead_ratio` times
            their executions (`SkipAuction`): no bids, no jury, and the bidder that did best on those tasks runs
            without a plan (the outcome's `skipped`). None: always hold the auction.
        max_bid_tokens: Output cap of a bid.
        screen_plans: What to do with the passages of a plan that address the jury ("score this 5", "ignore the
            rubric", forged fences or turns, a jury answer; `langgraph_sale.guard`): "strip" removes them before any
            juror, the executor or memory reads the plan and lists them in the bid's `flags`; "reject" drops the
            bid; "off" leaves plans as written (still fenced as data).
        bid_timeout: Seconds a bid (and each jury attempt) may take; None for no limit.
        bid_retry: Retry policy of a bid; None for no retry. Timeouts and connection errors are retried.
        execute_timeout: Seconds the winner's execution may take in all (its agent or default executor); past it
            the outcome says `execution_failed` and what was paid for stays in state. None for no limit.
        route: "internal" runs the winner in an `execute_<name>` node of the auction's graph; "decide" only
            decides (the host routes with `route_to_winner`); "parent" ends with
            `Command(graph=Command.PARENT, goto=...)`.
        parent_destinations: For route="parent", the parent node of each bidder (default: the bidder's name).
        fallback: Who runs when no bid survives: None, the most expensive bidder without a plan; a bidder's name,
            that one; False, nobody (the outcome says `no_bids`).
        plan_guidance: Give the winner its plan as guidance (set False to run it on the bare task).
        evaluate: Optional `evaluate(task, answer) -> bool` (or async), recorded as the outcome's `success`.
        escalate: Optional `Escalate(check)`: when `check` rejects the answer (or the execution fails), the next
            bidder up the price ladder runs the task (`langgraph_sale.escalation`; route="internal" only). Off by
            default, as in the paper, which has no fallback after a failed run.
        max_steps: Model calls of a default executor at most.
        approve: Pause for a person after the decision (`interrupt()`, outside the parallel branches; needs a
            checkpointer). Resume with `Command(resume=True)` to accept, `{"winner": "<name>"}` to override, or
            False to run nobody (status `rejected`).
        budget_key: The run-context field (or `config["configurable"]` key) holding a per-task budget in dollars.
            With a budget, bidders whose expected execution cost does not fit are left out, and the auction's own
            calls count against it (`langgraph_sale.budget`).
        expected_execution_tokens: Execution tokens a budget assumes for a bidder when memory has no similar
            auction.

    Raises:
        AuctionConfigError: Naming the first option that is wrong.

    Examples:
        >>> AuctionOptions(jury=2, route="decide").refine_rounds
        0
        >>> AuctionOptions(max_bid_tokens=0)
        Traceback (most recent call last):
        ...
        langgraph_sale.errors.AuctionConfigError: max_bid_tokens: must be an int >= 1, got 0
    """

    scorer: CostValueScorer = field(default_factory=CostValueScorer)
    jury: bool | int = True
    jury_scoring: JuryScoring = "digit"
    jury_batch: bool = True
    plan_format: PlanFormat = "steps"
    memory: AuctionMemory | None = None
    refine: bool | int = True
    skip: SkipAuction | None = None
    max_bid_tokens: int = DEFAULT_MAX_BID_TOKENS
    screen_plans: PlanScreening = "strip"
    bid_timeout: float | None = DEFAULT_BID_TIMEOUT
    bid_retry: RetryPolicy | None = DEFAULT_BID_RETRY
    execute_timeout: float | None = DEFAULT_EXECUTE_TIMEOUT
    route: Route = "internal"
    parent_destinations: Mapping[str, str] | None = None
    fallback: str | bool | None = None
    plan_guidance: bool = True
    evaluate: Evaluator | None = None
    escalate: Escalate | None = None
    max_steps: int = DEFAULT_MAX_STEPS
    approve: bool = False
    budget_key: str = "budget_usd"
    expected_execution_tokens: int = DEFAULT_EXPECTED_EXECUTION_TOKENS

    def __post_init__(self) -> None:
        if self.scorer is None:  # type: ignore[comparison-overlap]  # None asks for the default scorer
            object.__setattr__(self, "scorer", CostValueScorer())
        if not isinstance(self.scorer, CostValueScorer):
            raise AuctionConfigError("scorer", f"must be a CostValueScorer, got {type(self.scorer).__name__}")
        if not isinstance(self.jury, (bool, int)) or (not isinstance(self.jury, bool) and self.jury < 1):
            raise AuctionConfigError("jury", f"must be True, False or a juror count >= 1, got {self.jury!r}")
        require_choice("jury_scoring", self.jury_scoring, JURY_SCORINGS)
        if not isinstance(self.jury_batch, bool):
            raise AuctionConfigError("jury_batch", f"must be True or False, got {self.jury_batch!r}")
        require_choice("plan_format", self.plan_format, PLAN_FORMATS)
        if self.memory is not None and not isinstance(self.memory, AuctionMemory):
            raise AuctionConfigError("memory", f"must be an AuctionMemory or None, got {type(self.memory).__name__}")
        if not isinstance(self.refine, (bool, int)) or (not isinstance(self.refine, bool) and self.refine < 0):
            raise AuctionConfigError("refine", f"must be True, False or a number of rounds >= 0, got {self.refine!r}")
        self._check_skip()
        require_int("max_bid_tokens", self.max_bid_tokens)
        require_choice("screen_plans", self.screen_plans, ("strip", "reject", "off"))
        require_seconds("bid_timeout", self.bid_timeout)
        require_seconds("execute_timeout", self.execute_timeout)
        require_choice("route", self.route, ("internal", "decide", "parent"))
        if self.parent_destinations is not None and self.route != "parent":
            raise AuctionConfigError("parent_destinations", "only applies to route='parent'")
        if self.fallback is True or not (self.fallback is None or self.fallback is False
                                         or isinstance(self.fallback, str)):
            raise AuctionConfigError("fallback", f"must be None, False or a bidder's name, got {self.fallback!r}")
        if self.evaluate is not None and not callable(self.evaluate):
            raise AuctionConfigError("evaluate", "must be a callable evaluate(task, answer) -> bool")
        if self.escalate is not None and not isinstance(self.escalate, Escalate):
            raise AuctionConfigError("escalate", f"must be an Escalate(check) or None, got {self.escalate!r}")
        if self.escalate is not None and self.route != "internal":
            raise AuctionConfigError("escalate", f"needs route='internal' (the auction runs its executors), got "
                                     f"route={self.route!r}")
        require_int("max_steps", self.max_steps)
        if not isinstance(self.approve, bool):
            raise AuctionConfigError("approve", f"must be True or False, got {self.approve!r}")
        if not isinstance(self.budget_key, str) or not self.budget_key:
            raise AuctionConfigError("budget_key", f"must be a context field name, got {self.budget_key!r}")
        require_int("expected_execution_tokens", self.expected_execution_tokens, minimum=0)

    def _check_skip(self) -> None:
        if self.skip is None:
            return
        if not isinstance(self.skip, SkipAuction):
            raise AuctionConfigError("skip", f"must be a SkipAuction or None, got {self.skip!r}")
        if self.memory is None:
            raise AuctionConfigError("skip", "needs memory= and a SkipAuction")
        if self.skip.min_recalled > self.memory.k:
            # The rule reads the k auctions memory recalls: it could never see min_recalled of them.
            raise AuctionConfigError("skip", f"min_recalled={self.skip.min_recalled} is more than the "
                                     f"{self.memory.k} auctions memory recalls (AuctionMemory(k=...)): no auction "
                                     "would ever be skipped")

    @property
    def refine_rounds(self) -> int:
        """Outbid rounds at most: none without memory."""
        if self.memory is None or self.refine is False:
            return 0
        return 1 if self.refine is True else int(self.refine)


class Auction:
    """A pool and its options, checked against each other, with what the phases read from both.

    Raises:
        AuctionConfigError: On an invalid pool, or an option that names bidders the pool does not have.

    Examples:
        >>> from langgraph_sale.testing import fake_pool
        >>> auction = Auction(fake_pool(), AuctionOptions(jury=2))
        >>> auction.names, auction.largest
        (['tiny', 'small', 'large'], 'large')
    """

    def __init__(self, bidders: Sequence[Bidder], options: AuctionOptions) -> None:
        self.pool: dict[str, Bidder] = validate_pool(bidders)
        self.options = options
        self.names = list(self.pool)
        self.prices = {name: bidder.price_per_mtok for name, bidder in self.pool.items()}
        unknown = sorted(set(options.scorer.weights.w_jury) - set(self.pool))
        if unknown:
            raise AuctionConfigError("scorer.weights.w_jury", f"names jurors not in the pool: {', '.join(unknown)}")
        if not isinstance(options.jury, bool) and options.jury > len(self.pool):
            raise AuctionConfigError("jury", f"must be True, False or a juror count in 1..{len(self.pool)}, "
                                     f"got {options.jury!r}")
        stray = sorted(set(options.parent_destinations or {}) - set(self.pool))
        if stray:
            raise AuctionConfigError("parent_destinations", f"names bidders not in the pool: {', '.join(stray)}")
        if isinstance(options.fallback, str) and options.fallback not in self.pool:
            raise AuctionConfigError("fallback", f"must be None, False or a bidder's name, got {options.fallback!r}")
        self.jurors = options.scorer.active_jurors(self.names) if options.jury is not False else []
        """The jurors asked: every bidder whose juror weight is not zero (none without a jury)."""
        self.structured = {name: structured_juror(self.pool[name].model) for name in self.jurors}
        """Each juror's structured-output runnable, built once (None where its model has none)."""

    @property
    def largest(self) -> str:
        """The most expensive bidder (the last of them in pool order on a tie)."""
        return max(self.names, key=lambda name: (self.prices[name], self.names.index(name)))
