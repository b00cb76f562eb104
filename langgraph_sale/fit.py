"""Weights fitted from outcomes: the paper's min-max program, made well posed (docs/method.md §2.6, §6.2 #8).

A training example is one task on which **every bidder bid and every bidder executed once**: per bidder, the
features the scorer computed for its bid (`cost_feature`, `entropy_feature`, each juror's 0-5 score) and what its
execution gave (`success`, `cost_usd`). `fit_weights` finds the `AuctionWeights` whose auction, run by
`CostValueScorer` on those bids, picks the bidders with the smallest worst-task loss `lam * cost_usd - success`,
using `scipy.optimize.milp` (install the `fit` extra). `langgraph-sale fit` does the same from a file.

**The program** (its variables, constraints and objective, and why it is well posed) is
`langgraph_sale.fit_program`'s: `fit_weights` builds its features and losses, solves it there, and reads back the
weights.

**Missing features.** A task where any bid lacks entropy has entropy feature 0 for every bid, as the scorer leaves
entropy out of that auction. A juror who scored no bid at all gets weight 0. A missing jury score makes the scorer
rescale the jury sum by the weight of the jurors who answered, which is not linear in w; the fit imputes it as the
weighted mean of the answering jurors' scores (0 when none of them has weight), which is exactly that rescale for
given weights. It starts from equal weights, then refits with the missing scores re-imputed under the last fitted
weights (`impute_rounds`) until the scorer agrees with the program on every task, keeping the best round by the
scorer's own loss, and zero weights if the scorer does better with them. This is a heuristic: with complete jury
scores the program is exact in one round, so collect training auctions with the full jury. `FitResult.consistent`
says whether the scorer, run on the fitted weights, made the program's choice on every task; the losses reported
are always the scorer's.

**Example file** (JSON Lines, one task a line; a JSON list of such objects, or `{"examples": [...]}`, also loads)::

    {"task_id": "HE/1", "candidates": [
      {"bidder": "small", "price_per_mtok": 0.1, "cost_feature": 0.19, "entropy_feature": 0.31,
       "jury": {"small": 4, "large": 3}, "success": false, "cost_usd": 0.00002},
      {"bidder": "large", "price_per_mtok": 0.5, "cost_feature": 0.97, "entropy_feature": 0.22,
       "jury": {"small": 5, "large": null}, "success": true, "cost_usd": 0.00011}]}

Candidates are listed in pool order (the scorer's last tie-break). `price_per_mtok` is optional (ties then go by
pool order only); `entropy_feature` is null when the bid had none; a juror's score is null or left out when it was
dropped or not asked. Jurors are bidders of the same task (the jury is the pool).

Examples:
    >>> examples = [FitExample(task_id=str(t), candidates=[
    ...     FitCandidate(bidder="small", cost_feature=0.2, jury={"large": 5 * ok}, success=bool(ok), cost_usd=1.0),
    ...     FitCandidate(bidder="large", cost_feature=1.0, jury={"large": 4}, success=True, cost_usd=5.0)])
    ...     for t, ok in enumerate([1, 0, 1, 0])]
    >>> result = fit_weights(examples, lam=0.1, time_limit=5)
    >>> result.chosen, result.weights.w_jury
    (['small', 'large', 'small', 'large'], {'small': 0.0, 'large': 1.0})
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from langgraph_sale.errors import AuctionConfigError, AuctionInputError, require_int
from langgraph_sale.fit_program import SolvedProgram, objective_value, solve_program
from langgraph_sale.scoring import AuctionWeights
from langgraph_sale.types import ScoreBreakdown

__all__ = [
    "FitCandidate",
    "FitExample",
    "FitResult",
    "RoutingSummary",
    "load_examples",
    "example_from_scores",
    "fit_weights",
    "score_example",
    "choose",
    "routing_summary",
    "loss_lam",
]

_TIE_DECIMALS = 12  # as the scorer rounds before its tie-break
_WEIGHT_FLOOR = 1e-9  # smaller weights (relative to bound) are solver noise: set to 0

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


class RoutingSummary(BaseModel):
    """How a routing (one chosen bidder per task) did on the training tasks."""

    tasks: int
    passed: int
    pass_rate: float
    total_cost_usd: float
    mean_loss: float
    worst_loss: float
    picks: dict[str, int]


class FitResult(BaseModel):
    """What `fit_weights` found.

    Attributes:
        weights: The fitted weights (`jury_default = 0`: a juror the fit never saw is not asked).
        Q: The worst task's loss with these weights, as the scorer routes (the min-max objective).
        mean_loss: The mean loss over tasks.
        chosen: The bidder the scorer picks with these weights, per task.
        task_ids: The task ids, in the same order.
        lam: The cost weight of the loss, in successes per dollar (the default is filled in).
        objective: "minmax" or "mean".
        status: The solver's account of both solves.
        optimal: Whether both solves were proven optimal (not cut by the time limit).
        consistent: Whether the scorer's choices equal the program's on every task (see the module docstring).
        summaries: "fitted", "always_largest", "always_cheapest" (what zero weights do) and "oracle".
        solve_s: Seconds spent in the solver.
    """

    weights: AuctionWeights
    Q: float
    mean_loss: float
    chosen: list[str]
    task_ids: list[str]
    lam: float
    objective: Literal["minmax", "mean"]
    status: str
    optimal: bool
    consistent: bool
    summaries: dict[str, RoutingSummary]
    solve_s: float


# ---- loading ----------------------------------------------------------------------------------------------------
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


# ---- the scorer, on features --------------------------------------------------------------------------------------
def score_example(weights: AuctionWeights, example: FitExample) -> list[float]:
    """Each candidate's score under `weights`, computed exactly as `CostValueScorer.score` does."""
    pool = [c.bidder for c in example.candidates]
    juror_weights = weights.juror_weights(pool)
    active = {name for name, weight in juror_weights.items() if weight != 0.0}
    total_weight = sum(abs(juror_weights[name]) for name in active)
    entropy_used = all(c.entropy_feature is not None for c in example.candidates)
    scores: list[float] = []
    for candidate in example.candidates:
        c_term = weights.w_cost * candidate.cost_feature
        h_term = 0.0
        if entropy_used and candidate.entropy_feature is not None:
            h_term = weights.w_entropy * candidate.entropy_feature
        weighted = answered = 0.0
        for juror, value in candidate.jury.items():
            if juror in active and value is not None:
                weighted += juror_weights[juror] * value / 5.0
                answered += abs(juror_weights[juror])
        rescale = total_weight / answered if answered > 0 else 0.0
        j_term = rescale * weighted if math.isfinite(rescale * weighted) else 0.0
        scores.append(c_term - (h_term + j_term))
    return scores


def choose(weights: AuctionWeights, example: FitExample) -> int:
    """The index of the candidate `CostValueScorer` picks under `weights`: lowest score, then price, then order."""
    scores = score_example(weights, example)
    return min(range(len(scores)), key=lambda i: (round(scores[i], _TIE_DECIMALS), example._price(i), i))


# ---- the program --------------------------------------------------------------------------------------------------
def _features(example: FitExample, jurors: Sequence[str], scored: set[str],
              imputation: Mapping[str, float] | None) -> list[list[float]]:
    """Rows `a_ti` with `score_ti = a_ti . w`, `w = (w_cost, w_entropy, w_juror...)`.

    A juror outside the task's pool, or one that scored nothing in the whole data, gets 0. A missing score is
    imputed as the scorer's rescale would weigh it under the juror weights `imputation`: the weighted mean of the
    answering jurors' scores (signed like the missing juror's weight); None weighs the answering jurors alike.
    """
    entropy_used = all(c.entropy_feature is not None for c in example.candidates)
    pool = {c.bidder for c in example.candidates}
    rows = []
    for candidate in example.candidates:
        answered = {j: v / 5.0 for j, v in candidate.jury.items() if v is not None and j in scored}
        fill = _fill(answered, imputation)
        jury = []
        for juror in jurors:
            if juror not in pool or juror not in scored:
                jury.append(0.0)
            elif juror in answered:
                jury.append(answered[juror])
            else:
                negative = imputation is not None and imputation.get(juror, 0.0) < 0
                jury.append(-fill if negative else fill)
        entropy = candidate.entropy_feature if entropy_used and candidate.entropy_feature is not None else 0.0
        rows.append([candidate.cost_feature, -entropy, *(-g for g in jury)])
    return rows


def _fill(answered: Mapping[str, float], imputation: Mapping[str, float] | None) -> float:
    if imputation is not None:
        weights = {j: imputation.get(j, 0.0) for j in answered if imputation.get(j, 0.0) != 0.0}
        total = sum(abs(w) for w in weights.values())
        # No weighted juror answered: the scorer's rescale is 0, so the jury term of this bid is 0.
        return sum(w * answered[j] for j, w in weights.items()) / total if total > 0 else 0.0
    return sum(answered.values()) / len(answered) if answered else 0.0


def _largest(example: FitExample) -> int:
    """The most expensive bidder (the graph's fallback rule: highest price, then the later in the pool)."""
    prices = [c.price_per_mtok or 0.0 for c in example.candidates]
    return max(range(len(prices)), key=lambda i: (prices[i], i))


def _oracle(example: FitExample, losses: Sequence[float]) -> int:
    """The bidder with the lowest realised loss (ties: the tie rule)."""
    return min(example.tie_order(), key=lambda i: losses[i])


def _jury_costs(examples: Sequence[FitExample], weights: AuctionWeights) -> list[float]:
    """Per task, what the jurors this routing asks (a non-zero weight) cost in dollars."""
    asked = {juror for juror, weight in weights.w_jury.items() if weight != 0.0}
    return [sum(cost for juror, cost in e.jury_cost_usd.items() if juror in asked) for e in examples]


def loss_lam(examples: Sequence[FitExample], lam: float | None = None) -> float:
    """The loss's successes per dollar: `lam` if given, else 0.5 / the dearest run (it costs half a success, so a
    success always beats a failure); 0 when every run was free."""
    if lam is not None:
        return float(lam)
    max_cost = max(c.cost_usd for e in examples for c in e.candidates)
    return 0.5 / max_cost if max_cost > 0 else 0.0


def routing_summary(examples: Sequence[FitExample], picks: Sequence[int], lam: float,
             jury_costs: Sequence[float] | None = None) -> RoutingSummary:
    """The routing's outcome; `jury_costs` (per task, in dollars) are the calls it makes on top of the executions."""
    passed, cost = 0, 0.0
    losses: list[float] = []
    counts: dict[str, int] = {}
    for example, pick, jury in zip(examples, picks, jury_costs or [0.0] * len(picks), strict=True):
        candidate = example.candidates[pick]
        passed += candidate.success
        cost += candidate.cost_usd + jury
        losses.append(example.losses(lam)[pick] + lam * jury)
        counts[candidate.bidder] = counts.get(candidate.bidder, 0) + 1
    return RoutingSummary(tasks=len(picks), passed=passed, pass_rate=passed / len(picks), total_cost_usd=cost,
                          mean_loss=sum(losses) / len(losses), worst_loss=max(losses), picks=counts)


def _check_options(lam: float | None, bound: float, margin: float, eps: float, M: float | None,
                   time_limit: float, objective: str) -> None:
    checks = [
        ("lam", lam is None or (math.isfinite(lam) and lam >= 0), "a finite number >= 0 (successes per dollar)"),
        ("bound", math.isfinite(bound) and bound > 0, "a finite number > 0"),
        ("margin", math.isfinite(margin) and 0 < margin < 1, "a fraction of bound in (0, 1)"),
        ("eps", math.isfinite(eps) and eps >= 0, "a finite number >= 0"),
        ("M", M is None or (math.isfinite(M) and M > 0), "a finite number > 0, or None to scale it from the data"),
        ("time_limit", math.isfinite(time_limit) and time_limit > 0, "a number of seconds > 0"),
        ("objective", objective in ("minmax", "mean"), "'minmax' or 'mean'"),
    ]
    for name, ok, need in checks:
        if not ok:
            value = {"lam": lam, "bound": bound, "margin": margin, "eps": eps, "M": M, "time_limit": time_limit,
                     "objective": objective}[name]
            raise AuctionConfigError(f"fit.{name}", f"must be {need}, got {value!r}")


def _weights_from(raw: Sequence[float], jurors: Sequence[str], bound: float) -> AuctionWeights:
    """Scale the program's weights so the largest is `bound` in size; solver noise becomes an exact 0."""
    largest = max((abs(w) for w in raw), default=0.0)
    scale = bound / largest if largest > _WEIGHT_FLOOR * bound else 0.0
    fitted = [w * scale + 0.0 if abs(w * scale) >= _WEIGHT_FLOOR * bound else 0.0 for w in raw]
    return AuctionWeights(w_cost=fitted[0], w_entropy=fitted[1], w_jury=dict(zip(jurors, fitted[2:], strict=True)),
                          jury_default=0.0)


def fit_weights(
    examples: Sequence[FitExample],
    *,
    lam: float | None = None,
    bound: float = 1.0,
    objective: Literal["minmax", "mean"] = "minmax",
    eps: float = 1e-3,
    margin: float = 1e-3,
    M: float | None = None,
    nonneg_cost: bool = True,
    nonneg_jurors: bool = True,
    time_limit: float = 30.0,
    impute_rounds: int = 4,
) -> FitResult:
    """Fit `AuctionWeights` to training tasks by the well-posed min-max program (see the module docstring).

    Args:
        examples: The training tasks.
        lam: Successes per dollar in the loss `lam * cost_usd - success`; None: `0.5 / (largest cost_usd)`, so
            the dearest run costs half a success and a success always beats a failure.
        bound: Weights lie in [-bound, bound]; the result is scaled so the largest is `bound` in size.
        objective: "minmax" minimises the worst task's loss plus `eps` times the mean; "mean" the mean alone.
        eps: Weight of the mean loss as the min-max tie-break.
        margin: The score gap (a fraction of `bound`) a decision must clear; smaller gaps are excluded.
        M: One big-M for every pair; None scales it per pair from the features' range (recommended). A value too
            small for the data is refused, since it would cut off valid weights.
        nonneg_cost: Keep `w_cost >= 0` (cost is never rewarded); False frees its sign.
        nonneg_jurors: Keep juror weights >= 0 (a juror is trusted or ignored); False frees their sign.
        time_limit: Seconds per solve (two per round).
        impute_rounds: With missing jury scores, how many times at most to refit with the missing scores
            re-imputed under the last fitted weights, until the scorer agrees with the program on every task.

    Returns:
        The fitted weights, the losses the scorer realises with them, its choices, baselines and solver status.

    Raises:
        AuctionConfigError: On an invalid option, naming it, or when scipy is missing.
        AuctionInputError: On no examples.
    """
    _check_options(lam, bound, margin, eps, M, time_limit, objective)
    require_int("fit.impute_rounds", impute_rounds)
    examples = list(examples)
    if not examples:
        raise AuctionInputError("examples", "no training examples: give at least one task")
    try:
        import numpy  # noqa: F401
        import scipy.optimize  # noqa: F401
    except ImportError as err:  # pragma: no cover - scipy is the `fit` extra
        raise AuctionConfigError("fit", "needs scipy: pip install 'langgraph-sale[fit]'") from err

    lam_used = loss_lam(examples, lam)
    losses = [example.losses(lam_used) for example in examples]
    jurors = list(dict.fromkeys(c.bidder for e in examples for c in e.candidates))
    scored = {j for e in examples for c in e.candidates for j, v in c.jury.items() if v is not None}
    missing = any(c.jury.get(j) is None for e in examples for c in e.candidates
                  for j in scored if j in {d.bidder for d in e.candidates})
    free_weights = [(0.0 if nonneg_cost else -bound, bound), (-bound, bound)]
    for juror in jurors:
        # A juror who never scored a bid has nothing to fit, and imputing its scores would invent a signal.
        free_weights.append((0.0, 0.0) if juror not in scored else (0.0 if nonneg_jurors else -bound, bound))
    # A juror's weight buys its calls on every task: that is charged to the loss whenever the weight is non-zero.
    charges = [[0.0, 0.0, *(lam_used * e.jury_cost_usd.get(juror, 0.0) for juror in jurors)] for e in examples]

    imputation: dict[str, float] | None = None
    best: tuple[float, bool, int] | None = None
    kept: tuple[AuctionWeights, list[int], SolvedProgram] | None = None
    notes: list[str] = []
    optimal, seconds = True, 0.0
    for round_ in range(impute_rounds if missing else 1):
        features = [_features(example, jurors, scored, imputation) for example in examples]
        solved = solve_program(examples, features, losses, charges, free_weights=free_weights, bound=bound,
                                delta=margin * bound, objective=objective, eps=eps, M=M, time_limit=time_limit)
        seconds += solved.seconds
        optimal = optimal and solved.optimal
        notes.append(("" if round_ == 0 else f"refit {round_}: ") + "; ".join(solved.notes))
        weights = _weights_from(solved.raw, jurors, bound)
        picks = [choose(weights, example) for example in examples]
        consistent = picks == solved.picks
        charged = [lam_used * cost for cost in _jury_costs(examples, weights)]
        rank = (objective_value(losses, picks, objective, eps, charged), not consistent, round_)
        if best is None or rank < best:
            best, kept = rank, (weights, picks, solved)
        following = dict(zip(jurors, solved.raw[2:], strict=True))
        if consistent or following == imputation:
            break
        imputation = following
    assert kept is not None and best is not None
    weights, scorer_picks, solved = kept
    if best[1]:
        # The program and the scorer disagree (missing jury scores): never return worse than zero weights, which
        # the program models exactly (every score ties, the tie rule's first bidder wins).
        zero_picks = [e.tie_order()[0] for e in examples]
        if objective_value(losses, zero_picks, objective, eps) < best[0]:
            weights, scorer_picks = _weights_from([0.0] * len(free_weights), jurors, bound), zero_picks
            solved = solved.model_copy(update={"picks": zero_picks})
            notes.append("zero weights kept: the scorer did better with them than with the fitted ones")

    fitted_summary = routing_summary(examples, scorer_picks, lam_used, _jury_costs(examples, weights))
    largest_picks = [_largest(e) for e in examples]
    cheapest_picks = [e.tie_order()[0] for e in examples]
    oracle_picks = [_oracle(e, task_losses) for e, task_losses in zip(examples, losses, strict=True)]
    return FitResult(
        weights=weights,
        Q=fitted_summary.worst_loss,
        mean_loss=fitted_summary.mean_loss,
        chosen=[e.candidates[i].bidder for e, i in zip(examples, scorer_picks, strict=True)],
        task_ids=[e.task_id for e in examples],
        lam=lam_used,
        objective=objective,
        status=" | ".join(notes),
        optimal=optimal,
        consistent=scorer_picks == solved.picks,
        summaries={
            "fitted": fitted_summary,
            "always_largest": routing_summary(examples, largest_picks, lam_used),
            "always_cheapest": routing_summary(examples, cheapest_picks, lam_used),
            "oracle": routing_summary(examples, oracle_picks, lam_used),
        },
        solve_s=seconds,
    )
