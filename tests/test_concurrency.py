"""Concurrency (issue "Reliability and security", item 3): many auctions at once on one event loop and one store
keep every bid, judgment, score and memory record in their own auction; per-bidder call caps hold across
concurrent auctions, on the async and the sync path, also when calls time out.

The big run is benchmarks/bench_concurrency.py with short model latency; its figures are in docs/RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from langgraph_sale import Bidder, create_auction
from langgraph_sale.limits import CallLimiter
from langgraph_sale.testing import ScriptedChatModel
from tests.support import JURY_BY_PLAN_TEXT, PLANS, PRICES, answer_of

ROOT = Path(__file__).resolve().parent.parent


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_concurrency", ROOT / "benchmarks" / "bench_concurrency.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


bench = load_bench()


# ---- many auctions at once ---------------------------------------------------------------------------------------


def test_200_auctions_at_once_keep_to_their_own_auction(monkeypatch: pytest.MonkeyPatch) -> None:
    gauge = Gauge()
    agenerate = bench.TaggedModel._agenerate

    async def gauged(self: Any, *args: Any, **kwargs: Any) -> ChatResult:
        with gauge:
            result: ChatResult = await agenerate(self, *args, **kwargs)
        return result

    monkeypatch.setattr(bench.TaggedModel, "_agenerate", gauged)
    report = bench.run(auctions=200, latency_ms=5, sequential=0, warm=10, trace_memory=False)
    assert report.violations == [], "\n".join(report.violations[:20])
    # 3 bids, 3 jury requests (one per juror over the 3 plans), 1 execution each; every auction's cheapest bidder
    # rewrote its bid from memory (1 more bid, judged alone by each of the 3 jurors).
    assert report.refine_bids == 200 and report.calls == 200 * (3 + 3 + 1 + 1 + 3)
    # They ran at once, not one after another: more model calls were in flight together than one auction ever
    # makes at a time (9 judgments). How fast is bench_concurrency.py's figure, not this test's.
    assert gauge.peak > 9, gauge.peak


def test_the_checks_catch_a_record_in_the_wrong_auction() -> None:
    async def two() -> tuple[list[str], list[dict[str, Any]], Any, Any, list[Bidder]]:
        app, pool, store, memory = bench.make_app(0.0, refine=False)
        tasks = [bench.task_of(i) for i in range(2)]
        results = list(await asyncio.gather(*(app.ainvoke({"auction_task": t}) for t in tasks)))
        return tasks, results, store, memory, pool

    tasks, results, store, memory, pool = asyncio.run(two())
    assert bench.verify(tasks, results, store, memory, pool) == []
    first, second = (result["auction_outcome"] for result in results)  # the audit a caller receives
    swapped = [{**results[0], "auction_outcome": {**first, "bids": second["bids"]}},
               {**results[1], "auction_outcome": {**second, "bids": first["bids"]}}]
    assert any("bid " in problem for problem in bench.verify(tasks, swapped, store, memory, pool))
    jury = [{**results[0], "auction_outcome": {**first, "jury": first["jury"][:-1]}}, results[1]]  # a judgment missing
    assert any("judgments for" in problem for problem in bench.verify(tasks, jury, store, memory, pool))
    items = store.search(memory.namespace_for(None))
    store.delete(items[0].namespace, items[0].key)  # a memory record missing
    assert any("store holds 1 records" in p for p in bench.verify(tasks, results, store, memory, pool))


# ---- per-bidder call caps across concurrent auctions -------------------------------------------------------------


class Gauge:
    """Calls in flight at the model itself (what a server would see), and their peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


class GaugedModel(ScriptedChatModel):
    """A scripted model that measures its own calls in flight (shared by the copies the auction makes of it)."""

    _gauge: Gauge = PrivateAttr(default_factory=Gauge)

    @property
    def gauge(self) -> Gauge:
        return self._gauge

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        with self._gauge:
            return super()._generate(messages, stop, run_manager, **kwargs)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        with self._gauge:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)


CAPS = {"tiny": 1, "small": 2, "large": 3}


def capped_pool(latency: Mapping[str, Any]) -> list[Bidder]:
    return [Bidder(name, GaugedModel(plans=[PLANS[name]], jury=JURY_BY_PLAN_TEXT, answers=[answer_of(name)],
                                     latency_s=latency.get(name, 0.02), name_hint=name),
                   price_per_mtok=price, limiter=CallLimiter(CAPS[name]))
            for name, price in PRICES.items()]


def peaks(pool: list[Bidder]) -> dict[str, tuple[int, int]]:
    """Per bidder: (peak calls in flight at the model, the limiter's own peak)."""
    return {b.name: (b.model.gauge.peak, b.limiter.peak) for b in pool}  # type: ignore[attr-defined,union-attr]


@pytest.mark.parametrize("timeouts", [False, True], ids=["healthy", "large-juror-times-out"])
async def test_per_bidder_caps_hold_across_concurrent_auctions(mode: str, timeouts: bool) -> None:
    # With timeouts, the large juror's calls take far longer than bid_timeout: on the sync path an abandoned call
    # keeps running (Python cannot stop a thread) and must keep its slot until it really ends.
    auctions = 6 if timeouts else 12
    pool = capped_pool({"large": {"jury": 0.3, "bid": 0.02, "execute": 0.02}} if timeouts else {})
    app = create_auction(pool, bid_timeout=0.1 if timeouts else 10.0).compile()
    inputs = [{"auction_task": f"Task {i}: deduplicate and sort a list of integers."} for i in range(auctions)]
    if mode == "async":
        results = await asyncio.gather(*(app.ainvoke(task) for task in inputs))
    else:
        with concurrent.futures.ThreadPoolExecutor(auctions) as threads:
            results = list(threads.map(app.invoke, inputs))

    assert all(result["auction_outcome"]["status"] == "executed" for result in results)
    assert len({result["auction_outcome"]["auction_id"] for result in results}) == auctions
    for name, (at_model, limiter_peak) in peaks(pool).items():
        assert at_model <= CAPS[name] and limiter_peak <= CAPS[name], (name, at_model, limiter_peak)
    assert peaks(pool)["large"][0] == CAPS["large"]  # the cap was reached: the auctions did overlap
    if timeouts:
        large = [j for r in results for j in r["auction_outcome"]["jury"] if j["juror"] == "large"]
        assert large and all(j["score"] is None and "BidTimeoutError" in j["error"] for j in large)
    time.sleep(0.4 if timeouts else 0)  # abandoned sync calls end; every slot comes back
    assert all(b.limiter.in_flight == 0 for b in pool)  # type: ignore[union-attr]
