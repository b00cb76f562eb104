"""95% bootstrap intervals over tasks: of a method's pass@1, cost and share of the largest agent, and of its paired
difference against the largest agent alone.

A bench figure is a mean over tasks (and over task orders, for the methods that depend on the order: memory fills
in it). The unit of resampling is the task: each task's value is its mean over the orders it ran in, and the
interval is the percentile interval of `scipy.stats.bootstrap` over those values, with a fixed seed so a report
regenerated from the same record prints the same digits. A paired difference resamples the tasks both methods ran,
so what the two share (which tasks are hard) cancels.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import bootstrap

__all__ = ["Interval", "TASK_METRICS", "RESAMPLES", "per_task", "interval", "paired_interval", "method_intervals",
           "interval_rows"]

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0


def _cost(row: Mapping[str, Any]) -> float:
    return 1e6 * math.fsum((row.get("cost_usd") or {}).values())


TASK_METRICS: dict[str, Callable[[Mapping[str, Any]], float]] = {
    "pass": lambda row: float(bool(row["passed"])),
    "cost_udollars": _cost,
    "largest_share": lambda row: float(bool(row.get("largest_ran"))),
}
"""What a row gives each metric that carries an interval: pass@1, µ$ a task, whether the largest agent ran."""


@dataclass(frozen=True)
class Interval:
    """A mean over tasks and its 95% bootstrap interval."""

    mean: float
    low: float
    high: float
    tasks: int

    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of zero (a difference beyond the noise)."""
        return self.low > 0 or self.high < 0


def per_task(rows: Sequence[Mapping[str, Any]], metric: str) -> dict[str, float]:
    """Each task's value of `metric`, the mean over the orders it ran in.

    Examples:
        >>> rows = [{"task_id": "t", "passed": True}, {"task_id": "t", "passed": False}]
        >>> per_task(rows, "pass")
        {'t': 0.5}
    """
    values: dict[str, list[float]] = {}
    for row in rows:
        values.setdefault(str(row["task_id"]), []).append(TASK_METRICS[metric](row))
    return {task: statistics.fmean(v) for task, v in values.items()}


def interval(values: Sequence[float]) -> Interval:
    """The mean of `values` and its 95% percentile bootstrap interval (a constant sample: the value itself).

    Examples:
        >>> result = interval([0.0, 1.0] * 20)
        >>> result.mean, 0.3 < result.low < 0.5 < result.high < 0.7
        (0.5, True)
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if data.size == 1 or np.all(data == data[0]):
        return Interval(mean, mean, mean, int(data.size))
    result = bootstrap((data,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES, method="percentile",
                       random_state=np.random.default_rng(SEED))
    low, high = result.confidence_interval
    return Interval(mean, float(low), float(high), int(data.size))


def paired_interval(method: Mapping[str, float], reference: Mapping[str, float]) -> Interval:
    """The mean of `method - reference` over the tasks both have, and its 95% bootstrap interval.

    Examples:
        >>> paired_interval({"a": 1.0, "b": 1.0, "c": 0.0}, {"a": 0.0, "b": 1.0, "c": 0.0}).mean
        0.3333333333333333
    """
    shared = sorted(set(method) & set(reference))
    return interval([method[task] - reference[task] for task in shared])


def method_intervals(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], reference: str
                     ) -> dict[str, dict[str, Interval]]:
    """Per method: each metric of `TASK_METRICS` with its interval, and, where `reference` (the largest agent alone)
    ran, each metric's paired difference against it (`<metric>_vs_reference`)."""
    by_method: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_method.setdefault(str(row["method"]), []).append(row)
    tasks = {name: {metric: per_task(by_method.get(name, []), metric) for metric in TASK_METRICS}
             for name in {*methods, reference}}
    result: dict[str, dict[str, Interval]] = {}
    for name in methods:
        if not by_method.get(name):
            continue
        own = {metric: interval(list(tasks[name][metric].values())) for metric in TASK_METRICS}
        if name != reference and by_method.get(reference):
            own.update({f"{metric}_vs_reference": paired_interval(tasks[name][metric], tasks[reference][metric])
                        for metric in TASK_METRICS})
        result[name] = own
    return result


def _span(value: Interval, percent: bool, signed: bool = False) -> str:
    scale, sign = (100.0 if percent else 1.0), ("+" if signed else "")
    return f"{scale * value.mean:{sign}.1f} [{scale * value.low:{sign}.1f}, {scale * value.high:{sign}.1f}]"


def interval_header(largest: str) -> list[str]:
    """The header of an interval table (`interval_rows`), the largest agent named."""
    return ["method", "pass@1 %", "µ$ / task", "largest share %", f"pass@1 vs {largest} alone (points, paired)",
            f"µ$ vs {largest} alone (paired)"]


def interval_rows(intervals: Mapping[str, Mapping[str, Interval]]) -> list[list[str]]:
    """The rows of a report's interval table: method, pass@1 %, µ$ a task, largest share %, and the paired
    differences against the largest agent alone (points of pass@1, µ$), each as `mean [low, high]`.

    Examples:
        >>> rows = [{"task_id": t, "method": m, "passed": p, "cost_usd": {"execute": c}, "largest_ran": m == "big"}
        ...         for t in "abcd" for m, p, c in (("big", True, 2e-6), ("small", t != "a", 1e-6))]
        >>> interval_rows(method_intervals(rows, ["small", "big"], "big"))[0][:2]
        ['small', '75.0 [25.0, 100.0]']
    """
    lines = []
    for name, own in intervals.items():
        versus = own.get("pass_vs_reference")
        cost_versus = own.get("cost_udollars_vs_reference")
        lines.append([name, _span(own["pass"], True), _span(own["cost_udollars"], False),
                      _span(own["largest_share"], True),
                      _span(versus, True, signed=True) if versus else "-",
                      _span(cost_versus, False, signed=True) if cost_versus else "-"])
    return lines
