"""The dominance verdict: a baseline dominates a method only when better and cheaper beyond the paired intervals."""

from __future__ import annotations

from typing import Any

import pytest

from langgraph_sale.bench.dominance import RANDOM_AT_SHARE, dominance, dominance_rows, random_at_share


def _row(method: str, task: int, passed: bool, udollars: float, largest: bool) -> dict[str, Any]:
    return {"task_id": f"t{task}", "method": method, "passed": passed, "cost_usd": {"execute": udollars * 1e-6},
            "largest_ran": largest}


def _rows(tasks: int = 60) -> list[dict[str, Any]]:
    rows = []
    for t in range(tasks):
        small_ok, large_ok = t % 3 == 0, t % 4 != 0
        rows += [_row("alone_small", t, small_ok, 10.0, False), _row("alone_large", t, large_ok, 30.0, True),
                 # The cascade runs small first and passes whenever either does, paying for both when small fails.
                 _row("cascade", t, small_ok or large_ok, 10.0 if small_ok else 40.0, not small_ok),
                 # A "SALE" that sends every task to the large agent and pays 30 more for its auction.
                 _row("sale_nomem", t, large_ok, 60.0, True),
                 # One that sends exactly the tasks the small agent fails, with a small auction.
                 _row("sale_value", t, small_ok or large_ok, (10.0 if small_ok else 30.0) + 2.0, not small_ok)]
    return rows


def test_random_at_a_share_is_the_mixture_of_the_two_agents_alone() -> None:
    expected = random_at_share(_rows(12), 0.5, "small", "large")
    assert expected["cost_udollars"] == dict.fromkeys(expected["cost_udollars"], 20.0)
    assert expected["pass"]["t0"] == pytest.approx(0.5 * 1 + 0.5 * 0)  # small passes t0, large fails it
    assert expected["pass"]["t1"] == pytest.approx(0.5)


def test_a_dearer_and_worse_method_is_dominated_and_a_good_router_is_not() -> None:
    rows = _rows()
    worse = {d.baseline: d for d in dominance(rows, "sale_nomem", cheapest="small", largest="large")}
    assert set(worse) == {RANDOM_AT_SHARE, "cascade"}  # router_knn did not run
    assert worse["cascade"].dominated and worse["cascade"].pass_gain.low > 0 and worse["cascade"].cost_saving.low > 0
    # At its own share (all tasks on the large agent) random is the large agent alone: as good, cheaper.
    assert not worse[RANDOM_AT_SHARE].dominated and worse[RANDOM_AT_SHARE].pass_gain.mean == pytest.approx(0.0)
    good = dominance(rows, "sale_value", cheapest="small", largest="large")
    assert good and not any(d.dominated for d in good)
    table = dominance_rows([*worse.values(), *good])
    assert [line[-1] for line in table].count("**dominated**") == 1


def test_a_method_that_did_not_run_has_no_verdict() -> None:
    assert dominance(_rows(6), "sale", cheapest="small", largest="large") == []
