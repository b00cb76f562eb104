"""Is a method dominated? Against each baseline a user could run instead, the paired differences of pass@1 and cost
over tasks, with their 95% bootstrap intervals (`langgraph_sale.bench.intervals`), and the verdict: a baseline
dominates the method when it is both better and cheaper beyond the intervals (the lower ends of "baseline minus
method" in pass@1 and of "method minus baseline" in cost are both above zero).

The baselines are the run's `router_knn` and `cascade` where they ran, and **random routing at the method's own
share** of the largest agent: on each task, the expected pass and cost of sending it to the largest agent with
probability s (the method's share over the run) and to the cheapest otherwise, from the two agents' own runs alone.
It is what the method's routing is worth against no information at the same spending on the largest agent; unlike
the `random` method (one draw at an even share), it has no luck of the draw in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph_sale.bench.intervals import Interval, paired_interval, per_task

__all__ = ["Dominance", "RANDOM_AT_SHARE", "random_at_share", "dominance", "dominance_rows", "as_json", "from_json"]

RANDOM_AT_SHARE = "random at the same share"
BASELINES = ("router_knn", "cascade")


@dataclass(frozen=True)
class Dominance:
    """One method against one baseline: paired differences over the tasks both ran."""

    method: str
    baseline: str
    pass_gain: Interval
    """Baseline minus method, pass@1 (a fraction)."""
    cost_saving: Interval
    """Method minus baseline, µ$ a task."""

    @property
    def dominated(self) -> bool:
        return self.pass_gain.low > 0 and self.cost_saving.low > 0


def random_at_share(rows: Sequence[Mapping[str, Any]], share: float, cheapest: str, largest: str
                    ) -> dict[str, dict[str, float]]:
    """Per metric ("pass", "cost_udollars"), each task's expectation under random routing at `share`.

    Examples:
        >>> rows = [{"task_id": "t", "method": f"alone_{a}", "passed": a == "big", "cost_usd": {"execute": c}}
        ...         for a, c in (("small", 1e-6), ("big", 3e-6))]
        >>> random_at_share(rows, 0.25, "small", "big")
        {'pass': {'t': 0.25}, 'cost_udollars': {'t': 1.5}}
    """
    alone = {agent: [r for r in rows if r["method"] == f"alone_{agent}"] for agent in (cheapest, largest)}
    result = {}
    for metric in ("pass", "cost_udollars"):
        low, high = per_task(alone[cheapest], metric), per_task(alone[largest], metric)
        result[metric] = {task: (1 - share) * low[task] + share * high[task] for task in sorted(set(low) & set(high))}
    return result


def dominance(rows: Sequence[Mapping[str, Any]], method: str, *, cheapest: str, largest: str) -> list[Dominance]:
    """The method against random at its share and against each baseline of `BASELINES` that ran."""
    own_rows = [r for r in rows if r["method"] == method]
    if not own_rows:
        return []
    own = {metric: per_task(own_rows, metric) for metric in ("pass", "cost_udollars")}
    share = sum(bool(r.get("largest_ran")) for r in own_rows) / len(own_rows)
    baselines: dict[str, dict[str, dict[str, float]]] = {}
    if any(r["method"] == f"alone_{a}" for r in rows for a in (cheapest, largest)):
        baselines[RANDOM_AT_SHARE] = random_at_share(rows, share, cheapest, largest)
    for name in BASELINES:
        theirs = [r for r in rows if r["method"] == name]
        if theirs:
            baselines[name] = {metric: per_task(theirs, metric) for metric in ("pass", "cost_udollars")}
    return [Dominance(method, name, pass_gain=paired_interval(values["pass"], own["pass"]),
                      cost_saving=paired_interval(own["cost_udollars"], values["cost_udollars"]))
            for name, values in baselines.items() if values["pass"]]


def dominance_rows(verdicts: Sequence[Dominance]) -> list[list[str]]:
    """Rows of the report's table: method, baseline, pass@1 points the baseline gains, µ$ it saves, verdict.

    Examples:
        >>> from langgraph_sale.bench.intervals import Interval
        >>> d = Dominance("sale", "cascade", Interval(0.1, 0.02, 0.2, 40), Interval(5.0, -1.0, 9.0, 40))
        >>> dominance_rows([d])[0][-1]
        'no: not cheaper beyond the interval'
    """
    lines = []
    for d in verdicts:
        if d.dominated:
            verdict = "**dominated**"
        elif d.pass_gain.low <= 0 and d.cost_saving.low <= 0:
            verdict = "no"
        elif d.pass_gain.low <= 0:
            verdict = "no: not better beyond the interval"
        else:
            verdict = "no: not cheaper beyond the interval"
        lines.append([d.method, d.baseline, _points(d.pass_gain), _dollars(d.cost_saving), verdict])
    return lines


def _points(value: Interval) -> str:
    return f"{100 * value.mean:+.1f} [{100 * value.low:+.1f}, {100 * value.high:+.1f}]"


def _dollars(value: Interval) -> str:
    return f"{value.mean:+.1f} [{value.low:+.1f}, {value.high:+.1f}]"


def as_json(verdicts: Sequence[Dominance]) -> list[dict[str, Any]]:
    """The verdicts for summary.json."""
    return [{"method": d.method, "baseline": d.baseline, "dominated": d.dominated,
             "pass_gain": vars(d.pass_gain), "cost_saving_udollars": vars(d.cost_saving)} for d in verdicts]


def from_json(entries: Sequence[Mapping[str, Any]]) -> list[Dominance]:
    """The verdicts `as_json` wrote (a summary.json's `dominance`), for the docs' tables.

    Examples:
        >>> d = Dominance("sale", "cascade", Interval(0.1, 0.02, 0.2, 40), Interval(5.0, 1.0, 9.0, 40))
        >>> from_json(as_json([d])) == [d]
        True
    """
    return [Dominance(e["method"], e["baseline"], pass_gain=Interval(**e["pass_gain"]),
                      cost_saving=Interval(**e["cost_saving_udollars"])) for e in entries]
