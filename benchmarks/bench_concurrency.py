"""Many auctions at once on one event loop, one compiled graph and one store: throughput, memory, and isolation.

N auctions (distinct tasks, each tagged `T0000`...) run concurrently with `ainvoke` on one compiled auction over one
`InMemoryStore` with `AuctionMemory` (recall for the outbid round and one record written per auction), with three
fake bidders whose every call takes `--latency-ms`. Each fake writes the tag of the task it was asked about into its
plan and its answer, so a bid, judgment, score or memory record that landed in another auction is caught:

- every bid and judgment of a result (its `auction_outcome`'s audit) carries that result's `auction_id`, every
  judgment and score refers to one of its own bids, every plan and the answer carry its own tag and no other;
- the store holds exactly N records, one per auction id, each with its own auction's task and plans;
- the fakes were called exactly as often as the results record (no call lost, none counted twice).

Then a sequential baseline (`--sequential` auctions one after another on a fresh store) for comparison, and a
second concurrent pass under `tracemalloc` for the peak of Python allocations (the timed pass runs without it).

    .venv/bin/python benchmarks/bench_concurrency.py                       # 200 auctions, 50 ms a call
    .venv/bin/python benchmarks/bench_concurrency.py --auctions 500 --latency-ms 50 --sequential 20

Exits 1 when an invariant is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import re
import resource
import shlex
import sys
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.store.memory import InMemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langgraph_sale import AuctionMemory, Bidder, create_auction  # noqa: E402
from langgraph_sale.memory import AuctionRecord  # noqa: E402
from langgraph_sale.metrics import message_text  # noqa: E402
from langgraph_sale.testing import ScriptedChatModel  # noqa: E402
from langgraph_sale.types import Bid, JuryScore  # noqa: E402

TAG = re.compile(r"\bT\d{4,}\b")
TOPICS = ("deduplicate a list", "parse a CSV file", "merge intervals", "find a shortest path", "write an LRU cache",
          "transpose a matrix", "count words", "retry HTTP calls", "validate an email", "sum prime numbers")
PLANS = {
    "tiny": "1. Answer {tag} quickly. 2. Done, a vague plan.",
    "small": "1. Write the code for {tag}. 2. Run unit tests on edge cases.",
    "large": "1. Study {tag}. 2. Design. 3. Implement. 4. Write unit tests. 5. Review.",
}
PRICES = {"tiny": 0.02, "small": 0.06, "large": 0.54}
ANSWER = "{name} solved {tag}"
WARM_FROM = 100_000  # tags of the auctions run before the concurrent ones (T100000...)


def task_of(index: int) -> str:
    return f"Task T{index:04d}: {TOPICS[index % len(TOPICS)]} (variant {index})"


def tag_of_task(task: str) -> str:
    found = TAG.search(task)
    assert found is not None, task
    return found.group(0)


def jury_score(plan: str) -> int:
    """Jurors like tested plans (5); other plans get a score that depends on their task's tag."""
    if "unit tests" in plan:
        return 5
    found = TAG.search(plan)
    return int(found.group(0)[1:]) % 5 if found else 0


class TaggedModel(ScriptedChatModel):
    """A scripted model that puts the tag of the task it was asked about into its plan and its answer: the tag
    of the first human message (the task; in an outbid prompt the new task comes before the recalled ones)."""

    def _answer(self, kind: Any, messages: list[BaseMessage], kwargs: Mapping[str, Any]) -> ChatResult:
        result = super()._answer(kind, messages, kwargs)
        message = result.generations[0].message
        if isinstance(message, AIMessage) and isinstance(message.content, str) and "{tag}" in message.content:
            human = next((message_text(m) for m in messages if isinstance(m, HumanMessage)), "")
            found = TAG.search(human)
            tagged = message.model_copy(update={"content": message.content.replace(
                "{tag}", found.group(0) if found else "T?")})
            result = ChatResult(generations=[ChatGeneration(message=tagged)])
        return result


def make_pool(latency_s: float) -> list[Bidder]:
    return [Bidder(name, TaggedModel(plans=[PLANS[name]], jury=jury_score, answers=[ANSWER.format(name=name,
                                                                                                  tag="{tag}")],
                                     latency_s=latency_s, name_hint=name), price_per_mtok=price)
            for name, price in PRICES.items()]


def make_app(latency_s: float, *, refine: bool) -> tuple[Any, list[Bidder], InMemoryStore, AuctionMemory]:
    pool = make_pool(latency_s)
    store = InMemoryStore()
    memory = AuctionMemory()
    app = create_auction(pool, memory=memory, refine=refine).compile(store=store)
    return app, pool, store, memory


# ---- the invariants --------------------------------------------------------------------------------------------------


def outcome_of(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a caller sees of an auction: its outcome, with the decision, the audit (bids, jury, scores), the ledger."""
    return result.get("auction_outcome") or {}


def verify(tasks: Sequence[str], results: Sequence[Mapping[str, Any]], store: InMemoryStore, memory: AuctionMemory,
           pool: Sequence[Bidder], *, earlier: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """Everything that landed in the wrong auction or went missing (empty: nothing). `earlier`: the results of
    auctions that ran before on the same store (task -> result), whose records it holds too."""
    problems: list[str] = []
    ids = [outcome_of(result).get("auction_id") for result in results]
    if len(set(ids)) != len(tasks) or None in ids:
        problems.append(f"{len(set(ids))} distinct auction ids for {len(tasks)} auctions")
    calls = {"bid": 0, "jury": 0, "execute": 0}
    for task, result in zip(tasks, results, strict=True):
        outcome = outcome_of(result)
        tag, auction_id = tag_of_task(task), outcome.get("auction_id")
        where = f"{tag} ({auction_id})"
        if outcome.get("task") != task:
            problems.append(f"{where}: task {outcome.get('task')!r}")
        bids = [Bid.model_validate(b) for b in outcome.get("bids", [])]
        own_bids = {bid.id: bid for bid in bids}
        if sorted(b.bidder for b in bids if b.round == 0) != sorted(PRICES):
            problems.append(f"{where}: first-round bids {[b.bidder for b in bids if b.round == 0]}")
        for bid in bids:
            if bid.auction_id != auction_id or not bid.ok or set(TAG.findall(bid.plan)) != {tag}:
                problems.append(f"{where}: bid {bid.bidder}/{bid.phase} of {bid.auction_id}: {bid.plan[:60]!r}")
        jury = [JuryScore.model_validate(j) for j in outcome.get("jury", [])]
        for judgment in jury:
            judged = own_bids.get(judgment.bid_id)
            if judgment.auction_id != auction_id or judged is None or judged.bidder != judgment.bidder:
                problems.append(f"{where}: judgment {judgment.juror}->{judgment.bidder} of {judgment.auction_id}")
            elif judgment.integer_score != jury_score(judged.plan):
                problems.append(f"{where}: judgment {judgment.juror}->{judgment.bidder} scored {judgment.score}")
        if len(jury) != len(PRICES) * len(bids):
            problems.append(f"{where}: {len(jury)} judgments for {len(bids)} bids")
        for name, breakdown in (outcome.get("scores") or {}).items():
            if breakdown.get("bid_id") not in own_bids or own_bids[breakdown["bid_id"]].bidder != name:
                problems.append(f"{where}: score of {name} refers to bid {breakdown.get('bid_id')}")
        winner = outcome.get("winner")
        if outcome.get("status") != "executed" or outcome.get("answer") != ANSWER.format(name=winner, tag=tag):
            problems.append(f"{where}: outcome {outcome.get('status')} {outcome.get('answer')!r}")
        if not outcome.get("memory_written"):
            problems.append(f"{where}: not written to memory ({outcome.get('memory_error')})")
        calls["bid"] += len(bids)
        calls["jury"] += sum(j.attempts for j in jury)
        calls["execute"] += 1
    for kind, expected in calls.items():
        made = sum(bidder.model.count(kind) for bidder in pool)  # type: ignore[attr-defined]
        made += sum(bidder.model.count("refine") for bidder in pool) if kind == "bid" else 0  # type: ignore
        if made != expected:
            problems.append(f"{made} {kind} calls made, {expected} recorded")

    by_id = {outcome_of(result).get("auction_id"): task for task, result in zip(tasks, results, strict=True)}
    by_id.update({outcome_of(result).get("auction_id"): task for task, result in (earlier or {}).items()})
    items = store.search(memory.namespace_for(None), limit=len(by_id) + 100)
    if len(items) != len(by_id) or {item.key for item in items} != set(by_id):
        problems.append(f"the store holds {len(items)} records for {len(by_id)} auctions")
    for item in items:
        record = AuctionRecord.model_validate(item.value)
        remembered = by_id.get(item.key)
        if remembered is None or record.auction_id != item.key or record.task != remembered:
            problems.append(f"memory record {item.key}: task {record.task!r}")
        elif any(set(TAG.findall(b.plan)) != {tag_of_task(remembered)} for b in record.bids):
            problems.append(f"memory record {item.key}: a plan of another auction")
    return problems


# ---- the runs --------------------------------------------------------------------------------------------------------


@dataclass
class Report:
    auctions: int
    latency_ms: float
    refine: bool
    warm: int = 0
    wall_s: float = 0.0
    sequential_n: int = 0
    sequential_s: float = 0.0
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0
    tracemalloc_peak_mb: float | None = None
    calls: int = 0
    refine_bids: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.auctions / self.wall_s if self.wall_s else 0.0

    @property
    def sequential_throughput(self) -> float:
        return self.sequential_n / self.sequential_s if self.sequential_s else 0.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _concurrent(n: int, latency_s: float, refine: bool, warm: int
                      ) -> tuple[float, list[str], Any, list[Bidder], int]:
    app, pool, store, memory = make_app(latency_s, refine=refine)
    # Past auctions in memory, so the concurrent ones recall them and cheaper bidders rewrite their bids.
    warm_tasks = [task_of(WARM_FROM + i) for i in range(warm)]
    warm_results = [await app.ainvoke({"auction_task": task}) for task in warm_tasks]
    for bidder in pool:
        bidder.model._calls.clear()  # type: ignore[attr-defined]  # count the concurrent pass only
    tasks = [task_of(i) for i in range(n)]
    started = time.perf_counter()
    results = await asyncio.gather(*(app.ainvoke({"auction_task": task}) for task in tasks))
    wall = time.perf_counter() - started
    problems = verify(tasks, results, store, memory, pool, earlier=dict(zip(warm_tasks, warm_results, strict=True)))
    refine_bids = sum(b["phase"] == "refine" for r in results for b in outcome_of(r)["bids"])
    models: list[Any] = [bidder.model for bidder in pool]
    calls = sum(len(model.calls) for model in models)
    return wall, problems, calls, pool, refine_bids


async def _sequential(n: int, latency_s: float, refine: bool, warm: int) -> tuple[float, list[str]]:
    app, pool, store, memory = make_app(latency_s, refine=refine)
    warm_tasks = [task_of(WARM_FROM + i) for i in range(warm)]
    warm_results = [await app.ainvoke({"auction_task": task}) for task in warm_tasks]
    for bidder in pool:
        bidder.model._calls.clear()  # type: ignore[attr-defined]
    tasks = [task_of(i) for i in range(n)]
    started = time.perf_counter()
    results = [await app.ainvoke({"auction_task": task}) for task in tasks]
    wall = time.perf_counter() - started
    return wall, verify(tasks, results, store, memory, pool, earlier=dict(zip(warm_tasks, warm_results, strict=True)))


def run(auctions: int = 200, latency_ms: float = 50.0, sequential: int = 20, *, refine: bool = True, warm: int = 10,
        trace_memory: bool = True) -> Report:
    """The whole benchmark; `Report.violations` lists every broken invariant."""
    latency_s = latency_ms / 1000
    report = Report(auctions=auctions, latency_ms=latency_ms, refine=refine, warm=warm)
    gc.collect()
    report.rss_before_mb = _rss_mb()
    report.wall_s, problems, report.calls, _, report.refine_bids = asyncio.run(
        _concurrent(auctions, latency_s, refine, warm))
    report.rss_peak_mb = _rss_mb()
    report.violations += problems
    if sequential:
        report.sequential_n = sequential
        report.sequential_s, problems = asyncio.run(_sequential(sequential, latency_s, refine, warm))
        report.violations += [f"sequential: {p}" for p in problems]
    if trace_memory:
        gc.collect()
        tracemalloc.start()
        try:
            _, problems, _, _, _ = asyncio.run(_concurrent(auctions, latency_s, refine, warm))
            report.tracemalloc_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
        report.violations += [f"traced: {p}" for p in problems]
    return report


def table(report: Report, command: str) -> str:
    rows = [
        ("auctions at once (one loop, one graph, one InMemoryStore)", f"{report.auctions:,}"),
        ("bidders per auction / model latency", f"3 / {report.latency_ms:g} ms per call"),
        ("outbid round (memory recall)", f"on, over {report.warm} earlier auctions and each other's records"
         if report.refine else "off"),
        ("model calls (bids, rewritten bids, jury, executions)", f"{report.calls:,}"),
        ("rewritten bids (outbid round)", f"{report.refine_bids:,}"),
        ("wall time, concurrent", f"{report.wall_s:.2f} s"),
        ("throughput, concurrent", f"{report.throughput:.1f} auctions/s"),
        (f"sequential baseline ({report.sequential_n} auctions, one at a time)",
         f"{report.sequential_throughput:.2f} auctions/s ({1000 / report.sequential_throughput:.0f} ms each)"
         if report.sequential_s else "not run"),
        ("speed-up over sequential", f"{report.throughput / report.sequential_throughput:.1f}x"
         if report.sequential_s else "-"),
        ("peak RSS of the process after the concurrent pass (at its start)",
         f"{report.rss_peak_mb:.0f} MB ({report.rss_before_mb:.0f} MB)"),
        ("peak Python allocations during a concurrent pass (tracemalloc)",
         f"{report.tracemalloc_peak_mb:.1f} MB" if report.tracemalloc_peak_mb is not None else "not measured"),
        ("bids, judgments, scores or records in the wrong auction, or missing", f"{len(report.violations)}"),
    ]
    lines = [f"Command: `{command}`", f"Machine: {platform.machine()}, Python {platform.python_version()}, "
             f"{resource.getpagesize()}-byte pages", "", "| what | measured |", "|---|---|"]
    lines += [f"| {what} | {value} |" for what, value in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--auctions", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--sequential", type=int, default=20, help="auctions of the sequential baseline (0: none)")
    parser.add_argument("--no-refine", action="store_true", help="no outbid round (memory is only written)")
    parser.add_argument("--warm", type=int, default=10, help="auctions run first, so that memory has records")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced pass")
    args = parser.parse_args(argv)
    report = run(args.auctions, args.latency_ms, args.sequential, refine=not args.no_refine, warm=args.warm,
                 trace_memory=not args.no_tracemalloc)
    command = "python benchmarks/bench_concurrency.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    print(table(report, command.strip()))
    for violation in report.violations[:30]:
        print("VIOLATION", violation)
    return 1 if report.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
