"""Bootstrap intervals over tasks: they hold the mean, are reproducible, shrink with more tasks, and a paired
difference cancels what both methods share."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_sale.bench.intervals import interval, method_intervals, paired_interval, per_task


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), min_size=1, max_size=60))
def test_an_interval_holds_its_mean_and_is_the_same_every_time(values: list[float]) -> None:
    first, again = interval(values), interval(values)
    assert first == again
    assert first.low <= first.mean + 1e-9 and first.mean - 1e-9 <= first.high and first.tasks == len(values)


def test_more_tasks_give_a_narrower_interval() -> None:
    rng = random.Random(1)
    small = interval([float(rng.random() < 0.5) for _ in range(40)])
    large = interval([float(rng.random() < 0.5) for _ in range(400)])
    assert large.high - large.low < small.high - small.low
    # About the normal approximation's width for a proportion near one half.
    assert 2 * 1.96 * (0.25 / 400) ** 0.5 == pytest.approx(large.high - large.low, rel=0.2)


def test_a_paired_difference_cancels_what_the_tasks_share() -> None:
    rng = random.Random(2)
    hardness = {f"t{i}": rng.random() * 100 for i in range(50)}
    a = {task: value + 1.0 for task, value in hardness.items()}
    b = dict(hardness)
    paired = paired_interval(a, b)
    assert paired.mean == pytest.approx(1.0) and paired.low == pytest.approx(1.0) and paired.excludes_zero()
    unpaired = interval(list(a.values()))
    assert unpaired.high - unpaired.low > 10  # the tasks' spread, which the pairing removed


def test_per_task_averages_the_orders_and_methods_pair_on_shared_tasks() -> None:
    rows = [{"task_id": t, "method": m, "order": o, "passed": (m == "big") or (o == 0),
             "cost_usd": {"execute": (3e-6 if m == "big" else 1e-6)}, "largest_ran": m == "big"}
            for t in ("a", "b", "c") for m in ("big", "small") for o in (0, 1)]
    assert per_task([r for r in rows if r["method"] == "small"], "pass") == {"a": 0.5, "b": 0.5, "c": 0.5}
    result = method_intervals(rows, ["small", "big"], "big")
    assert "pass_vs_reference" not in result["big"]
    assert result["small"]["pass_vs_reference"].mean == pytest.approx(-0.5)
    assert result["small"]["cost_udollars_vs_reference"].mean == pytest.approx(-2.0)
    assert result["small"]["largest_share"].mean == 0.0 == result["small"]["largest_share"].high
