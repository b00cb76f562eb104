"""The weight fit's mixed-integer program (`langgraph_sale.fit.fit_weights` builds its inputs and reads its result),
solved with `scipy.optimize.milp` in two stages.

**The program.** The score of bidder i on task t is linear in the weights, `score_ti = a_ti . w` with
`w = (w_cost, w_entropy, w_1..w_n)` and `a_ti = (cost_feature, -entropy_feature, -jury_1/5, ..., -jury_n/5)`.

Variables:
    w_k in [-bound, bound] (w_cost in [0, bound] unless `nonneg_cost=False`: a fit must never reward cost; juror
    weights in [0, bound] unless `nonneg_jurors=False`: a juror is trusted or ignored, and reading one backwards is
    what a small noisy sample invites; w_entropy is always free in sign);
    y_k in {0, 1} (1: weight k may be non-zero, |w_k| <= bound * y_k); u_k >= |w_k|;
    x_ti in {0, 1} (bidder i wins task t); Q (the worst task's loss).
Constraints:
    sum_i x_ti = 1 for every task;
    argmin consistency, with the scorer's tie rule (lower price first, then pool order): for every j that the tie
    rule puts *before* i, `score_ti + delta <= score_tj + M_tij (1 - x_ti)`; for every j *after* i and every
    feature k on which i and j differ, `score_ti + delta * y_k <= score_tj + M_tij (1 - x_ti)`;
    `z_t = sum_i x_ti (lam * cost_usd_ti - success_ti) + sum_j y_j lam * jury_cost_usd_tj <= Q`: a juror
    with a non-zero weight is asked in every auction, so its calls on each task (`FitExample.jury_cost_usd`, when
    given) are charged whenever the weight is non-zero. The paper's program leaves the jury's cost out, and on a
    pool whose jury costs more than the executions it decides, a fitted juror weight could then cost more than
    it saves (docs/RESULTS.md §2).
Objective:
    minimize `Q + eps * mean_t z_t` (`objective="mean"`: `mean_t z_t`, the paper's fragile ablation);
    then, at that optimum, minimize `sum_k y_k + sum_k u_k / ((n + 3) * bound)`: the fewest non-zero weights, then
    the smallest L1 norm, i.e. the largest margin per unit of weight. The weights are finally scaled so that the
    largest is `bound` in size (the scorer's choice is invariant to a positive scale).
`delta = margin * bound`; `M_tij = bound * ||a_ti - a_tj||_1 + delta`, the smallest big-M that is always valid in
the box, scaled from the features' range (the paper's fixed 10^4 is far too loose for 0-1 features).

**Why it is well posed.** As transcribed, Program 1 lets x pick any bidder and w drift to minus infinity. Here the
box bounds w and the losses are bounded, so the optimum is finite. And for every feasible (w, x), `x` selects
exactly the bidder that `CostValueScorer` picks with w: every bidder the tie rule prefers scores at least `delta`
higher, and every other one either scores at least `delta` higher or differs only on features whose weight is
exactly zero, which makes it an exact tie that the tie rule settles for the chosen bidder. So the loss the program
minimises is the loss the scorer realises, and the trivial w = 0 is no loophole: all scores tie, the constraints
force the tie rule's first bidder (the cheapest), and the fit pays that routing's loss, never the oracle's. Weights
whose decision on some task hangs on a gap smaller than `delta` (relative to `bound`) are excluded rather than
mis-modelled. w = 0 is always feasible, so the program always has a solution.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from langgraph_sale.errors import AuctionConfigError

if TYPE_CHECKING:
    from langgraph_sale.fit_examples import FitExample

__all__ = ["SolvedProgram", "objective_value", "solve_program"]

_MIP_GAP = 1e-6


class SolvedProgram(BaseModel):
    """What the two solves gave: the raw weights, the winner per task, the solver's notes, and whether both were
    proven optimal."""


    raw: list[float]
    picks: list[int]
    notes: list[str]
    optimal: bool
    seconds: float


class _Layout:
    """Where each variable of the program lies: w (n_w), u (n_w), y (n_w), Q, then x per task and candidate."""

    def __init__(self, examples: Sequence[FitExample], n_w: int) -> None:
        self.n_w = n_w
        self.W, self.U, self.Y, self.Q, first_x = 0, n_w, 2 * n_w, 3 * n_w, 3 * n_w + 1
        self.x: list[list[int]] = []
        for example in examples:
            self.x.append(list(range(first_x, first_x + len(example.candidates))))
            first_x += len(example.candidates)
        self.X0, self.n_vars = 3 * n_w + 1, first_x


class _Rows:
    """The program's constraints, a sparse row at a time: `lo <= sum(entries) <= hi`."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, entries: Mapping[int, float], lo: float, hi: float) -> None:
        for col, val in entries.items():
            if val != 0.0:
                self.rows.append(len(self.lower))
                self.cols.append(col)
                self.vals.append(val)
        self.lower.append(lo)
        self.upper.append(hi)


def _winner_rows(rows: _Rows, at: _Layout, t: int, example: FitExample, features: Sequence[Sequence[float]], *,
                 bound: float, delta: float, M: float | None) -> None:
    """Task t's constraints: one winner, and the winner beats every other bid by the margin under the tie rule."""
    xs, a = at.x[t], features
    rows.add(dict.fromkeys(xs, 1.0), 1.0, 1.0)
    position = {i: p for p, i in enumerate(example.tie_order())}
    for i in range(len(xs)):
        for j in range(len(xs)):
            if i == j:
                continue
            diff = [a[i][k] - a[j][k] for k in range(at.n_w)]
            needed = bound * sum(abs(d) for d in diff) + delta
            if M is not None and M < needed:
                raise AuctionConfigError("fit.M", f"{M} is too small for these features: task "
                                         f"{example.task_id or t!r} needs at least {needed:.6g}")
            big = M if M is not None else needed
            entries = {at.W + k: d for k, d in enumerate(diff)}
            if position[j] < position[i]:
                # j wins a tie against i: i must beat it by the margin.
                rows.add({**entries, xs[i]: big}, -math.inf, big - delta)
            else:
                # i wins a tie against j: i must beat it by the margin, or tie exactly, which it does when every
                # weight on which the two differ is zero.
                for k, d in enumerate(diff):
                    if d != 0.0:
                        rows.add({**entries, at.Y + k: delta, xs[i]: big}, -math.inf, big)


def solve_program(
    examples: Sequence[FitExample],
    features: Sequence[Sequence[Sequence[float]]],
    losses: Sequence[Sequence[float]],
    charges: Sequence[Sequence[float]],
    *,
    free_weights: Sequence[tuple[float, float]],
    bound: float,
    delta: float,
    objective: str,
    eps: float,
    M: float | None,
    time_limit: float,
) -> SolvedProgram:
    """Build the program for these features and solve it in two stages (see the module docstring).

    `charges[t][k]` is the loss that making weight k non-zero adds to task t (a juror's calls, times lam)."""
    import numpy as np

    at = _Layout(examples, len(free_weights))
    rows = _Rows()
    for t, example in enumerate(examples):
        _winner_rows(rows, at, t, example, features[t], bound=bound, delta=delta, M=M)
        if objective == "minmax":
            charged = {at.Y + k: c for k, c in enumerate(charges[t])}
            rows.add({**dict(zip(at.x[t], losses[t], strict=True)), **charged, at.Q: -1.0}, -math.inf, 0.0)
    for k in range(at.n_w):  # y_k = 0 forces w_k = 0; u_k >= |w_k|
        rows.add({at.W + k: 1.0, at.Y + k: -bound}, -math.inf, 0.0)
        rows.add({at.W + k: -1.0, at.Y + k: -bound}, -math.inf, 0.0)
        rows.add({at.W + k: 1.0, at.U + k: -1.0}, -math.inf, 0.0)
        rows.add({at.W + k: -1.0, at.U + k: -1.0}, -math.inf, 0.0)

    low, high = np.zeros(at.n_vars), np.ones(at.n_vars)
    for k, (lo_w, hi_w) in enumerate(free_weights):
        low[at.W + k], high[at.W + k] = lo_w, hi_w
    high[at.U:at.U + at.n_w] = bound
    if objective == "minmax":
        low[at.Q], high[at.Q] = -math.inf, math.inf
    else:
        high[at.Q] = 0.0
    integrality = np.zeros(at.n_vars)
    integrality[at.Y:at.Y + at.n_w] = 1
    integrality[at.X0:] = 1

    weight, n_tasks = (eps if objective == "minmax" else 1.0), len(examples)
    first = np.zeros(at.n_vars)
    for t, xs in enumerate(at.x):
        for x, loss in zip(xs, losses[t], strict=True):
            first[x] = weight * loss / n_tasks
        for k, charge in enumerate(charges[t]):
            first[at.Y + k] += weight * charge / n_tasks
    if objective == "minmax":
        first[at.Q] = 1.0
    second = np.zeros(at.n_vars)
    second[at.Y:at.Y + at.n_w] = 1.0
    second[at.U:at.U + at.n_w] = 1.0 / ((at.n_w + 1) * bound)
    return _two_stages(examples, losses, charges, at, rows, (first, second), (low, high, integrality),
                       objective=objective, eps=eps, time_limit=time_limit)


def _two_stages(examples: Sequence[FitExample], losses: Sequence[Sequence[float]],
                charges: Sequence[Sequence[float]], at: _Layout, rows: _Rows, objectives: tuple[Any, Any],
                box: tuple[Any, Any, Any], *, objective: str, eps: float, time_limit: float) -> SolvedProgram:
    """Stage 1 minimises the loss; stage 2, held at stage 1's optimum, the non-zero and the large weights."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    first, second = objectives
    low, high, integrality = box

    def solve(cost: Any, cap: float | None) -> Any:
        r, c, v, lo, hi = list(rows.rows), list(rows.cols), list(rows.vals), list(rows.lower), list(rows.upper)
        if cap is not None:  # stage 2: stay at the stage-1 optimum
            for col in np.flatnonzero(first):
                r.append(len(lo))
                c.append(int(col))
                v.append(float(first[col]))
            lo.append(-math.inf)
            hi.append(cap)
        matrix = coo_array((v, (r, c)), shape=(len(lo), at.n_vars)).tocsr()
        return milp(cost, integrality=integrality, bounds=Bounds(low, high),
                    constraints=LinearConstraint(matrix, np.array(lo), np.array(hi)),
                    options={"time_limit": float(time_limit), "mip_rel_gap": _MIP_GAP, "disp": False})

    def picks_of(solution: Any) -> list[int]:
        return [int(np.argmax([solution[x] for x in xs])) for xs in at.x]

    started = time.perf_counter()
    res1 = solve(first, None)
    optimal = res1.status == 0
    if res1.x is None:
        # w = 0 with the tie rule's first bidder everywhere is always feasible: fall back to it, and say so.
        solution = np.zeros(at.n_vars)
        for t, example in enumerate(examples):
            solution[at.x[t][example.tie_order()[0]]] = 1.0
        notes = [f"stage 1: {_said(res1)}, no solution found: zero weights kept"]
        optimal = False
    else:
        solution = res1.x
        notes = [f"stage 1: {_said(res1)}"]
    active = [k for k in range(at.n_w) if solution[at.Y + k] > 0.5]
    best = objective_value(losses, picks_of(solution), objective, eps,
                            [sum(task[k] for k in active) for task in charges])
    res2 = solve(second, best + 1e-9 * (1.0 + abs(best)))
    if res2.x is not None:
        solution = res2.x
        notes.append(f"stage 2: {_said(res2)}")
    else:
        notes.append(f"stage 2: {_said(res2)}, no solution found: stage 1 weights kept")
    raw = [float(solution[at.W + k]) if solution[at.Y + k] > 0.5 else 0.0 for k in range(at.n_w)]
    return SolvedProgram(raw=raw, picks=picks_of(solution), notes=notes, optimal=optimal and res2.status == 0,
                   seconds=time.perf_counter() - started)


def _said(result: Any) -> str:
    return "optimal" if result.status == 0 else str(result.message).strip()


def objective_value(losses: Sequence[Sequence[float]], picks: Sequence[int], objective: str, eps: float,
                     charged: Sequence[float] | None = None) -> float:
    """The program's objective for a routing; `charged` is each task's extra loss (the asked jurors' calls)."""
    chosen = [losses[t][i] + (charged[t] if charged is not None else 0.0) for t, i in enumerate(picks)]
    mean = sum(chosen) / len(chosen)
    return max(chosen) + eps * mean if objective == "minmax" else mean
