"""Escalation: a costlier bidder takes over the task when a check rejects the winner's answer.

The paper's SALE runs the winner once (pass@1) and has no fallback after a failed run (docs/method.md §2.8), which
stays this package's default (docs/method.md §6.2 #17). `Escalate` is the optional hook, off unless given. After
an execution, `check(task, answer)` says whether the answer holds up (a coding task's shown examples,
`langgraph_sale.agents.passes_examples`; any cheap verifier); when it does not, or the execution failed, the task
goes to the next bidder up the price ladder: of the bidders that cost more than the one that just ran, the one whose
bid scored best (its own plan guides it), a bidder without a bid after those. Where a budget is set, only a bidder
whose expected execution fits what is left. The rejected runs are paid for and stay in the outcome's ledger.

This is what a verifier cascade does (FrugalGPT, AutoMix), started where the auction points instead of at the
cheapest agent: on a task where the auction picks the large agent, the small agent's run that the cascade would pay
for and throw away is never made; where it picks the small agent, a failure still reaches the large one. The
check reads the answer after execution, which says more about it than anything known before (docs/method.md §6.4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.types import Evaluator

__all__ = ["Escalate", "next_bidder"]


@dataclass(frozen=True)
class Escalate:
    """Hand a task whose answer `check` rejects to a costlier bidder (`create_auction(escalate=Escalate(...))`).

    Args:
        check: `check(task, answer) -> bool` (or async): True keeps the answer. It runs after every execution but the
            last one possible; an execution that failed is rejected without it. A check that raises keeps the answer
            (recorded as the outcome's `check_error`): a broken check must not spend money.
        max_handoffs: Hand-offs at most per task; None goes up the whole price ladder.

    Raises:
        AuctionConfigError: On a check that is not callable or a bad `max_handoffs`, naming it.

    Examples:
        >>> Escalate(lambda task, answer: "def " in answer).max_handoffs is None
        True
        >>> Escalate("tests")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_sale.errors.AuctionConfigError: escalate.check: must be a callable check(task, answer) -> bool, ...
    """

    check: Evaluator
    max_handoffs: int | None = None

    def __post_init__(self) -> None:
        if not callable(self.check):
            raise AuctionConfigError("escalate.check",
                                     f"must be a callable check(task, answer) -> bool, got {self.check!r}")
        if self.max_handoffs is not None and (isinstance(self.max_handoffs, bool)
                                              or not isinstance(self.max_handoffs, int) or self.max_handoffs < 1):
            raise AuctionConfigError("escalate.max_handoffs", f"must be None or an int >= 1, got {self.max_handoffs!r}")


def next_bidder(ran: Sequence[str], prices: Mapping[str, float], order: Sequence[str],
                scores: Mapping[str, Mapping[str, Any]], *, fits: Any = None) -> str | None:
    """Who takes over after the bidders in `ran` (the last of them just ran): of the bidders dearer than it and not
    yet run, those with a scored bid by score (lowest first), then those without by price; the first that `fits`
    (a predicate on the name; None: every one fits). None when nobody is left.

    Examples:
        >>> prices = {"tiny": 0.1, "small": 0.2, "large": 0.9, "huge": 2.0}
        >>> scores = {"tiny": {"score": 0.1}, "large": {"score": 0.5}, "huge": {"score": 0.2}}
        >>> next_bidder(["tiny"], prices, list(prices), scores)
        'huge'
        >>> next_bidder(["tiny"], prices, list(prices), scores, fits=lambda name: name != "huge")
        'large'
        >>> next_bidder(["huge"], prices, list(prices), scores) is None
        True
    """
    last = ran[-1]
    dearer = [name for name in order if prices[name] > prices[last] and name not in ran]

    def rank(name: str) -> tuple[int, float, float, int]:
        score = (scores.get(name) or {}).get("score")
        return (0, float(score), prices[name], order.index(name)) if score is not None else (
            1, 0.0, prices[name], order.index(name))

    for name in sorted(dearer, key=rank):
        if fits is None or fits(name):
            return name
    return None
