"""The training examples of the fits (`langgraph_sale.fit`, `langgraph_sale.value_fit`): one task on which every
bidder bid and every bidder executed once, per bidder the features the scorer computed for its bid and what its
execution gave. `load_examples` reads them from a file, `example_from_scores` builds one from an auction's score
breakdowns, and `langgraph_sale.bench.fitdata` makes them from a bench run.

**Example file** (JSON Lines, one task a line; a JSON list of such objects, or `{"examples": [...]}`, also loads)::

    {"task_id": "HE/1", "candidates": [
      {"bidder": "small", "price_per_mtok": 0.1, "cost_feature": 0.19, "entropy_feature": 0.31,
       "jury": {"small": 4, "large": 3}, "success": false, "cost_usd": 0.00002},
      {"bidder": "large", "price_per_mtok": 0.5, "cost_feature": 0.97, "entropy_feature": 0.22,
       "jury": {"small": 5, "large": null}, "success": true, "cost_usd": 0.00011}]}

Candidates are listed in pool order (the scorer's last tie-break). `price_per_mtok` is optional (ties then go by
pool order only); `entropy_feature` is null when the bid had none; a juror's score is null or left out when it was
dropped or not asked. Jurors are bidders of the same task (the jury is the pool).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from langgraph_sale.errors import AuctionInputError
from langgraph_sale.types import ScoreBreakdown

__all__ = ["FitCandidate", "FitExample", "load_examples", "example_from_scores"]

JuryValue = Annotated[float, Field(ge=0.0, le=5.0, allow_inf_nan=False)]


class FitCandidate(BaseModel):
    """One bidder of one training task: the scorer's features of its bid and the outcome of its execution.

    Attributes:
        bidder: The bidder's name (a pool member).
        cost_feature: `price * plan_tokens / (max pool price * max_bid_tokens)`, as in `ScoreBreakdown`.
        entropy_feature: Entropy over ln(k), or None when the bid had no entropy.
        jury: Each juror's 0-5 score of this bid; None (or absent) when dropped or not asked.
        success: Whether this bidder's execution of the task succeeded.
        cost_usd: What that execution cost, in dollars (the auction's own cost is the same whoever wins).
        price_per_mtok: The bidder's price, for the scorer's tie-break (None: pool order decides ties).
    """

    model_config = ConfigDict(extra="forbid")

    bidder: str = Field(min_length=1)
    cost_feature: float = Field(ge=0.0, allow_inf_nan=False)
    entropy_feature: float | None = Field(default=None, allow_inf_nan=False)
    jury: dict[str, JuryValue | None] = Field(default_factory=dict)
    success: bool
    cost_usd: float = Field(ge=0.0, allow_inf_nan=False)
    price_per_mtok: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    plan_tokens: int | None = Field(default=None, ge=0)
    """The plan's length in tokens (a feature of the learned value, `langgraph_sale.value`)."""
    memory_rate: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    """This bidder's success rate on the most similar other training tasks (`value_fit.memory_rates`): the learned
    value's memory feature, for its ablation."""


class FitExample(BaseModel):
    """One training task: every bidder's bid features and execution outcome, candidates in pool order."""

    model_config = ConfigDict(extra="forbid")

    task_id: str = ""
    task_chars: int | None = Field(default=None, ge=0)
    """The task's length in characters (a feature of the learned value, `langgraph_sale.value`)."""
    candidates: list[FitCandidate] = Field(min_length=1)
    jury_cost_usd: dict[str, float] = Field(default_factory=dict)
    """What each juror's calls cost on this task, in dollars (scoring every bid). A juror with a non-zero weight
    is asked in every auction and one with weight 0 is not, so the fit charges these calls to every task's loss
    whenever it gives the juror a weight. Empty: the jury is free, as in the paper's program."""

    @model_validator(mode="after")
    def _pool_consistent(self) -> FitExample:
        names: list[str] = []
        for index, candidate in enumerate(self.candidates):
            if candidate.bidder in names:
                raise ValueError(f"candidates[{index}].bidder: {candidate.bidder!r} appears twice in one task")
            names.append(candidate.bidder)
        for index, candidate in enumerate(self.candidates):
            for juror in candidate.jury:
                if juror not in names:
                    raise ValueError(f"candidates[{index}].jury: juror {juror!r} is not a bidder of this task "
                                     f"(the jury is the pool: {', '.join(names)})")
        for juror, cost in self.jury_cost_usd.items():
            if juror not in names:
                raise ValueError(f"jury_cost_usd: juror {juror!r} is not a bidder of this task "
                                 f"(the jury is the pool: {', '.join(names)})")
            if not (math.isfinite(cost) and cost >= 0.0):
                raise ValueError(f"jury_cost_usd.{juror}: must be a finite number of dollars >= 0, got {cost!r}")
        return self

    def tie_order(self) -> list[int]:
        """Candidate indices in the scorer's tie order: lower price first, then pool order."""
        return sorted(range(len(self.candidates)), key=lambda i: (self._price(i), i))

    def losses(self, lam: float) -> list[float]:
        """Each candidate's realised loss `lam * cost_usd - success`."""
        return [lam * c.cost_usd - (1.0 if c.success else 0.0) for c in self.candidates]

    def _price(self, index: int) -> float:
        price = self.candidates[index].price_per_mtok
        return math.inf if price is None else price


def _field_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _validated(raw: Any, where: str) -> FitExample:
    try:
        return FitExample.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = _field_path(first["loc"]) or "example"
        message = str(first["msg"]).removeprefix("Value error, ")
        got = "" if first["type"] in {"missing", "value_error"} else f" (got {first.get('input')!r})"
        more = f"; {err.error_count() - 1} more problem(s)" if err.error_count() > 1 else ""
        raise AuctionInputError(field, f"{where}: {message}{got}{more}") from err


def load_examples(path: str | Path) -> list[FitExample]:
    """Read training examples from JSON Lines (one task a line), a JSON list, or `{"examples": [...]}`.

    Raises:
        AuctionInputError: On a missing or empty file, a line that is not JSON, or an invalid field; the error names
            the field (for example `candidates[1].cost_feature`) and the line.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise AuctionInputError("examples", f"no examples file at {source}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise AuctionInputError("examples", f"cannot read {source}: {err}") from err
    if not text.strip():
        raise AuctionInputError("examples", f"{source} is empty")
    items: list[tuple[str, Any]] = []
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((f"{source} line {number}", json.loads(line)))
            except json.JSONDecodeError as err:
                raise AuctionInputError(
                    "examples", f"{source} line {number}: not valid JSON ({err.msg} at column {err.colno})") from err
    else:
        if isinstance(whole, dict) and "examples" in whole and "candidates" not in whole:
            whole = whole["examples"]
        if isinstance(whole, list):
            items = [(f"{source} item {index}", raw) for index, raw in enumerate(whole)]
        elif isinstance(whole, dict):
            items = [(f"{source} line 1", whole)]
        else:
            raise AuctionInputError("examples", f"{source} holds {type(whole).__name__}, not training examples")
    if not items:
        raise AuctionInputError("examples", f"{source} holds no examples")
    return [_validated(raw, where) for where, raw in items]


def example_from_scores(
    scores: Mapping[str, ScoreBreakdown | Mapping[str, Any]],
    outcomes: Mapping[str, tuple[bool, float] | Mapping[str, Any]],
    *,
    task_id: str = "",
    order: Sequence[str] | None = None,
) -> FitExample:
    """Build one training example from an auction's score breakdowns and every bidder's execution outcome.

    Args:
        scores: Per bidder, its `ScoreBreakdown` (or the dicts `auction_outcome["scores"]` holds). Take the first-round
            breakdowns, scored with every juror active (for example the default weights), so that each juror's
            score is recorded.
        outcomes: Per bidder, `(success, cost_usd)` or a mapping with those keys, from executing every bidder once.
        task_id: An id for reports.
        order: The pool order (the scorer's last tie-break); default: the order of `scores`.

    Raises:
        AuctionInputError: On a bidder without an outcome, an outcome for no bidder, or an invalid field.

    Examples:
        >>> from langgraph_sale.types import ScoreBreakdown
        >>> b = ScoreBreakdown(bidder="small", bid_id="b1", price_per_mtok=0.1, plan_tokens=50, cost_feature=0.1,
        ...                    C=0.1, V=0.5, score=-0.4, jury={"small": 4.0})
        >>> example_from_scores({"small": b}, {"small": (True, 2e-5)}).candidates[0].jury
        {'small': 4.0}
    """
    names = list(order) if order is not None else list(scores)
    for label, given in (("scores", scores), ("outcomes", outcomes)):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise AuctionInputError(f"{label}.{unknown[0]}", f"{unknown[0]!r} is not a bidder of this auction "
                                    f"({', '.join(names)})")
    candidates: list[dict[str, Any]] = []
    for name in names:
        if name not in scores:
            raise AuctionInputError(f"scores.{name}", "no score breakdown: every bidder must have bid")
        raw = scores[name]
        breakdown = raw if isinstance(raw, ScoreBreakdown) else ScoreBreakdown.model_validate(raw)
        if name not in outcomes:
            raise AuctionInputError(f"outcomes.{name}", "no execution outcome: every bidder must have executed once")
        outcome = outcomes[name]
        if isinstance(outcome, Mapping):
            success, cost = outcome.get("success"), outcome.get("cost_usd")
        else:
            success, cost = outcome
        candidates.append({
            "bidder": name,
            "cost_feature": breakdown.cost_feature,
            "entropy_feature": breakdown.entropy_feature if breakdown.entropy_used else None,
            "jury": dict(breakdown.jury),
            "success": success,
            "cost_usd": cost,
            "price_per_mtok": breakdown.price_per_mtok,
        })
    return _validated({"task_id": task_id, "candidates": candidates}, f"task {task_id!r}" if task_id else "task")
