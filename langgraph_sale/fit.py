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

The training examples (`FitCandidate`, `FitExample`, their file format, `load_examples` and `example_from_scores`)
are in `langgraph_sale.fit_examples`.

Examples:
    >>> from langgraph_sale.fit_examples import FitCandidate
    >>> examples = [FitExample(task_id=str(t), candidates=[
    ...     FitCandidate(bidder="small", cost_feature=0.2, jury={"large": 5 * ok}, success=bool(ok), cost_usd=1.0),
    ...     FitCandidate(bidder="large", cost_feature=1.0, jury={"large": 4}, success=True, cost_usd=5.0)])
    ...     for t, ok in enumerate([1, 0, 1, 0])]
    >>> result = fit_weights(examples, lam=0.1, time_limit=5)
    >>> result.chosen, result.weights.w_jury
    (['small', 'large', 'small', 'large'], {'small': 0.0, 'large': 1.0})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel

from langgraph_sale.errors import AuctionConfigError, AuctionInputError, require_int
from langgraph_sale.fit_examples import FitExample
from langgraph_sale.fit_program import SolvedProgram, objective_value, solve_program
from langgraph_sale.scoring import AuctionWeights

__all__ = [
    "FitResult",
    "RoutingSummary",
    "fit_weights",
    "score_example",
    "choose",
    "routing_summary",
    "loss_lam",
]

_TIE_DECIMALS = 12  # as the scorer rounds before its tie-break
_WEIGHT_FLOOR = 1e-9  # smaller weights (relative to bound) are solver noise: set to 0


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
